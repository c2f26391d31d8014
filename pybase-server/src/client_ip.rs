//! Who the client is, for per-client rate limits: the peer address, or,
//! when the peer is a trusted reverse proxy, the address it forwarded.
//!
//! Behind a load balancer every request comes from the proxy's address, so
//! per-client limits would count every user together (one client's failed
//! logins would lock everyone out). With `TRUSTED_PROXIES` listing the
//! proxies, the client is the right-most `X-Forwarded-For` entry that is not
//! itself a trusted proxy: entries further left were written by the client
//! and cannot be believed. Without the setting the header is ignored, so a
//! client cannot pick its own key.

use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;

/// One trusted address or network, `203.0.113.7` or `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4-mapped IPv6 address as IPv4; others as they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = canonical(
            addr.parse::<IpAddr>()
                .map_err(|_| format!("`{s}` is not an IP address or network"))?,
        );
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: expected a prefix length of 0 to {max}"))?,
        };
        Ok(Self { addr, prefix })
    }
}

/// Parses a comma-separated list of addresses and networks.
pub fn parse_list(list: &str) -> Result<Vec<IpNet>, String> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// The client of a request from `peer` with `headers`, given the trusted
/// proxies; `None` when the peer is unknown (an embedding without
/// connection info), so no per-client key is used at all.
pub fn client_of(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = canonical(peer?);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut client = peer;
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = canonical(ip);
                if !is_trusted(client) {
                    break;
                }
            }
            // A malformed hop: stop at the last address we could trust.
            Err(_) => break,
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn networks_parse_and_match() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.1.2.3")));
        assert!(net.contains(ip("::ffff:10.1.2.3")));
        assert!(!net.contains(ip("11.0.0.1")));
        let one: IpNet = "2001:db8::1".parse().unwrap();
        assert!(one.contains(ip("2001:db8::1")) && !one.contains(ip("2001:db8::2")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("192.0.2.1")));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("proxy".parse::<IpNet>().is_err());
        assert_eq!(parse_list(" 10.0.0.1, ,::1/128").unwrap().len(), 2);
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let trusted = parse_list("10.0.0.1,10.0.0.2").unwrap();
        // Not through a trusted proxy: the header is the client's own claim.
        assert_eq!(
            client_of(Some(ip("198.51.100.9")), &xff("1.2.3.4"), &trusted),
            Some(ip("198.51.100.9"))
        );
        // Through the proxy: the right-most untrusted hop.
        assert_eq!(
            client_of(
                Some(ip("10.0.0.1")),
                &xff("1.2.3.4, 203.0.113.5, 10.0.0.2"),
                &trusted
            ),
            Some(ip("203.0.113.5"))
        );
        // A trusted proxy without the header is the client itself.
        assert_eq!(
            client_of(Some(ip("10.0.0.1")), &HeaderMap::new(), &trusted),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(
            client_of(Some(ip("10.0.0.1")), &xff("garbage"), &trusted),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(client_of(None, &xff("1.2.3.4"), &trusted), None);
    }
}
