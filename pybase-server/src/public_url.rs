//! The server's public base URL (`PUBLIC_URL`): where clients reach it, so
//! the absolute links it hands out (`/v0`'s signed attachment URLs, which
//! scripts download as given, as from Airtable) work from the client's side.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// A base URL without a trailing slash, query or fragment:
/// `https://pybase.example.com` or `https://example.com/pybase`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(Arc<str>);

impl PublicUrl {
    /// Checks a configured `PUBLIC_URL`: an absolute `http` or `https` URL
    /// with a host, and neither query, fragment nor credentials.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let url = url::Url::parse(text.trim())
            .map_err(|e| anyhow::anyhow!("PUBLIC_URL: expected an absolute URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("PUBLIC_URL: expected an http or https URL, got {text:?}");
        }
        if url.host().is_none() {
            anyhow::bail!("PUBLIC_URL: expected a URL with a host, got {text:?}");
        }
        if url.query().is_some() || url.fragment().is_some() {
            anyhow::bail!("PUBLIC_URL: expected no query or fragment, got {text:?}");
        }
        if !url.username().is_empty() || url.password().is_some() {
            anyhow::bail!("PUBLIC_URL: expected no credentials in the URL");
        }
        Ok(Self(Arc::from(url.as_str().trim_end_matches('/'))))
    }

    /// `http://` and the address the server listens on; an unspecified
    /// address (`0.0.0.0`, `::`) becomes the loopback one of its family.
    pub fn of_listener(addr: SocketAddr) -> Self {
        let ip = match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        Self(Arc::from(format!(
            "http://{}",
            SocketAddr::new(ip, addr.port())
        )))
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// The base URL itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_urls_are_checked_and_trimmed() {
        let u = PublicUrl::parse("https://pybase.example.com/").unwrap();
        assert_eq!(u.join("/api/v1/x"), "https://pybase.example.com/api/v1/x");
        let u = PublicUrl::parse("https://example.com/pybase/").unwrap();
        assert_eq!(u.as_str(), "https://example.com/pybase");
        for bad in [
            "pybase.example.com",
            "ftp://example.com",
            "https://example.com/?a=1",
            "https://example.com/#x",
            "https://user:pw@example.com",
            "",
        ] {
            assert!(PublicUrl::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_default_is_the_listen_address_with_loopback_for_any() {
        let at = |s: &str| PublicUrl::of_listener(s.parse().unwrap());
        assert_eq!(at("127.0.0.1:8000").as_str(), "http://127.0.0.1:8000");
        assert_eq!(at("0.0.0.0:9000").as_str(), "http://127.0.0.1:9000");
        assert_eq!(at("[::]:80").as_str(), "http://[::1]:80");
        assert_eq!(at("10.1.2.3:8000").as_str(), "http://10.1.2.3:8000");
    }
}
