//! Object storage for attachment bytes: a local folder by default, any
//! S3-compatible store (AWS, MinIO, ...) when configured.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt as _, PutPayload, RetryConfig};

use crate::settings::{S3Settings, Settings};

/// Key of the small object written by health checks.
const HEALTH_KEY: &str = ".pybase/health";

/// Why object storage could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The local files folder could not be created.
    #[error("could not create the files folder {path}: {source}")]
    Folder {
        /// The folder.
        path: std::path::PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The store could not be configured.
    #[error("could not configure object storage: {0}")]
    Config(#[from] object_store::Error),
}

/// Which kind of object store is in use (for logs and health).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// Files under a local folder.
    LocalFileSystem,
    /// An S3-compatible service.
    S3,
}

impl StorageKind {
    /// A short name for logs and `/health`.
    pub fn name(self) -> &'static str {
        match self {
            Self::LocalFileSystem => "local",
            Self::S3 => "s3",
        }
    }
}

/// Builds the object store the settings ask for.
pub fn from_settings(
    settings: &Settings,
) -> Result<(Arc<dyn ObjectStore>, StorageKind), StorageError> {
    match settings.s3() {
        Some(s3) => Ok((Arc::new(s3_store(&s3)?), StorageKind::S3)),
        None => {
            let path = settings.files_dir();
            std::fs::create_dir_all(&path).map_err(|source| StorageError::Folder {
                path: path.clone(),
                source,
            })?;
            let store = LocalFileSystem::new_with_prefix(&path)?;
            Ok((Arc::new(store), StorageKind::LocalFileSystem))
        }
    }
}

/// An S3 client for `s3`: path-style requests (what MinIO and most
/// self-hosted stores expect when an endpoint is given) and plain HTTP allowed
/// for `http://` endpoints.
pub fn s3_store(s3: &S3Settings) -> Result<object_store::aws::AmazonS3, StorageError> {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&s3.bucket)
        .with_region(&s3.region)
        .with_client_options(
            ClientOptions::new()
                .with_connect_timeout(Duration::from_secs(5))
                .with_timeout(Duration::from_secs(300)),
        )
        // A store that is down should fail a request within seconds, not
        // after the default three minutes of retries.
        .with_retry(RetryConfig {
            max_retries: 3,
            retry_timeout: Duration::from_secs(15),
            ..RetryConfig::default()
        });
    if let Some(endpoint) = &s3.endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    if let Some(id) = &s3.access_key_id {
        builder = builder.with_access_key_id(id);
    }
    if let Some(secret) = &s3.secret_access_key {
        builder = builder.with_secret_access_key(secret.expose());
    }
    Ok(builder.build()?)
}

/// Checks that the store accepts a write, which is what uploads need.
///
/// A read of a missing key would not do: S3 answers "not found" for a
/// missing bucket too.
pub async fn check(store: &dyn ObjectStore) -> Result<(), object_store::Error> {
    store
        .put(&Path::from(HEALTH_KEY), PutPayload::from_static(b"ok"))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_store_is_created_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            data_dir: dir.path().join("data"),
            ..Settings::default()
        };
        let (store, kind) = from_settings(&settings).unwrap();
        assert_eq!(kind, StorageKind::LocalFileSystem);
        check(store.as_ref()).await.unwrap();
        assert!(settings.files_dir().join(".pybase/health").exists());
    }

    #[tokio::test]
    async fn unreachable_s3_fails_the_check() {
        let s3 = S3Settings {
            endpoint: Some("http://127.0.0.1:1".into()),
            bucket: "nothing".into(),
            access_key_id: Some("k".into()),
            secret_access_key: Some(crate::settings::Secret::new("s")),
            region: "us-east-1".into(),
        };
        let store = s3_store(&s3).unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(60), check(&store)).await;
        assert!(matches!(outcome, Ok(Err(_))), "expected a prompt error");
    }
}
