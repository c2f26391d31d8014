//! Attachments on a real S3-protocol server. Needs `PYBASE_TEST_S3_ENDPOINT`,
//! `PYBASE_TEST_S3_ACCESS_KEY_ID`, `PYBASE_TEST_S3_SECRET_ACCESS_KEY` and
//! `PYBASE_TEST_S3_BUCKET`.

use reqwest::{Method, StatusCode};

use crate::common::{SendExpect, TestServer, settings_in};
use crate::require_service;

#[tokio::test]
async fn attachments_round_trip_through_s3() {
    let endpoint = require_service!("PYBASE_TEST_S3_ENDPOINT");
    let key = require_service!("PYBASE_TEST_S3_ACCESS_KEY_ID");
    let secret = require_service!("PYBASE_TEST_S3_SECRET_ACCESS_KEY");
    let bucket = require_service!("PYBASE_TEST_S3_BUCKET");
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.s3_endpoint = Some(endpoint);
    settings.s3_bucket = Some(bucket);
    settings.s3_access_key_id = Some(key);
    settings.s3_secret_access_key = Some(pybase_server::settings::Secret::new(secret));
    let s = TestServer::start_with(settings).await;
    let v = s
        .anon(Method::GET, "/health")
        .send_expect(StatusCode::OK)
        .await;
    assert_eq!(v["backends"]["object_store"], "s3");
    assert_eq!(v["checks"]["object_store"], "ok");
    crate::attachments::round_trip(&s).await;
}
