//! Outgoing mail (password-reset tokens) behind a small trait.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One outgoing message. `body` and `token` hold a secret: `Debug` redacts them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailMessage {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body (contains the token).
    pub body: String,
    /// The token the message delivers, for programs that build their own link.
    pub token: String,
}

impl fmt::Debug for MailMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailMessage")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("body", &"[redacted]")
            .field("token", &"[redacted]")
            .finish()
    }
}

/// Delivers messages. Implementations must never log `body` or `token`.
#[async_trait]
pub trait Mailer: Send + Sync + fmt::Debug {
    /// Sends one message. An error is logged by the caller and not shown to
    /// the requester (a reset request always succeeds outwardly).
    async fn send(&self, message: &MailMessage) -> Result<()>;
}

/// Writes each message as a JSON file `{"to","subject","body","token"}`
/// into a folder (created on first use), for development and tests.
///
/// File names start with the time in milliseconds, so they list in sending
/// order; each file is written under a temporary name and then renamed, so
/// a reader never sees a half-written message.
#[derive(Debug, Clone)]
pub struct FileOutboxMailer {
    dir: PathBuf,
}

impl FileOutboxMailer {
    /// A mailer writing into `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The outbox folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for FileOutboxMailer {
    async fn send(&self, message: &MailMessage) -> Result<()> {
        let json = serde_json::to_vec_pretty(message).map_err(|e| Error::Internal(Box::new(e)))?;
        let name = format!(
            "{}-{}.json",
            chrono::Utc::now().timestamp_millis(),
            super::random_token(9)
        );
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, json)?;
            std::fs::rename(&tmp, dir.join(&name))
        })
        .await
        .map_err(|e| Error::Internal(Box::new(e)))?
        .map_err(|e| Error::Internal(Box::new(e)))?;
        tracing::debug!(dir = %self.dir.display(), "mail written to outbox");
        Ok(())
    }
}

/// Delivers nothing and logs only that a message was dropped (never its
/// recipient's token): the default when no mailer is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, message: &MailMessage) -> Result<()> {
        tracing::info!(subject = %message.subject, "no mailer configured, message not delivered");
        Ok(())
    }
}

/// Keeps messages in memory, for tests and programs that deliver mail
/// themselves.
#[derive(Debug, Clone, Default)]
pub struct MemoryMailer {
    sent: Arc<Mutex<Vec<MailMessage>>>,
}

impl MemoryMailer {
    /// An empty mailbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message sent so far, oldest first.
    pub fn messages(&self) -> Vec<MailMessage> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The token of the latest message to `to`, if any.
    pub fn last_token_for(&self, to: &str) -> Option<String> {
        self.messages()
            .into_iter()
            .rev()
            .find(|m| m.to.eq_ignore_ascii_case(to))
            .map(|m| m.token)
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, message: &MailMessage) -> Result<()> {
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(token: &str) -> MailMessage {
        MailMessage {
            to: "ann@example.com".into(),
            subject: "Reset your password".into(),
            body: format!("use {token}"),
            token: token.into(),
        }
    }

    #[test]
    fn debug_redacts_the_secret() {
        let m = message("s3cr3t-token");
        let dbg = format!("{m:?}");
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
        assert!(dbg.contains("ann@example.com"));
    }

    #[tokio::test]
    async fn file_outbox_writes_one_json_file_per_message() {
        let dir =
            std::env::temp_dir().join(format!("pybase-outbox-{}", super::super::random_token(8)));
        let mailer = FileOutboxMailer::new(&dir);
        mailer.send(&message("tok-one")).await.unwrap();
        mailer.send(&message("tok-two")).await.unwrap();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert_eq!(files.len(), 2, "{files:?}");
        let mut tokens = Vec::new();
        for f in &files {
            assert_eq!(f.extension().and_then(|e| e.to_str()), Some("json"));
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            assert_eq!(v["to"], "ann@example.com");
            assert_eq!(v["subject"], "Reset your password");
            assert!(
                v["body"]
                    .as_str()
                    .unwrap()
                    .contains(v["token"].as_str().unwrap())
            );
            tokens.push(v["token"].as_str().unwrap().to_owned());
        }
        tokens.sort();
        assert_eq!(tokens, ["tok-one", "tok-two"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn memory_mailer_keeps_messages() {
        let m = MemoryMailer::new();
        assert_eq!(m.last_token_for("ann@example.com"), None);
        m.send(&message("a")).await.unwrap();
        m.send(&message("b")).await.unwrap();
        assert_eq!(m.messages().len(), 2);
        assert_eq!(m.last_token_for("ANN@example.com").as_deref(), Some("b"));
    }
}
