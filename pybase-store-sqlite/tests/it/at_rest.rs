//! Secrets are hashed at rest (REVIEW-security 2.5 #10): after a sign-in, a
//! refresh, a reset request and an API key, no plaintext password, token or
//! key appears anywhere in the database file.

use std::sync::Arc;

use pybase_core::auth::NewApiKey;
use pybase_core::store::AuthStore;
use pybase_core::testkit::auth::{AuthEnv, PASSWORD};
use pybase_store_sqlite::SqliteStore;

/// Every text value of every table, for searching.
fn dump(path: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = String::new();
    for t in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..n {
                if let Ok(Some(s)) = row.get::<_, Option<String>>(i) {
                    out.push_str(&s);
                    out.push('\n');
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn no_secret_is_stored_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.db");
    let store: Arc<dyn AuthStore> = Arc::new(SqliteStore::open(&path).unwrap());
    let env = AuthEnv::new(store);
    let s = env.register().await;
    let s2 = env.auth.refresh(&s.refresh_token).await.unwrap();
    let p = env.auth.authenticate(&s2.access_token).await.unwrap();
    let (_, key) = env
        .auth
        .create_api_key(
            &p,
            NewApiKey {
                name: "ci".into(),
                ..NewApiKey::default()
            },
        )
        .await
        .unwrap();
    env.auth
        .request_password_reset(&s.user.email, None)
        .await
        .unwrap();
    env.auth.flush_background().await;
    let reset = env.mailer.last_token_for(&s.user.email).unwrap();
    let text = dump(&path);
    assert!(
        text.contains(&s.user.email),
        "the dump reads the users table"
    );
    for (what, secret) in [
        ("password", PASSWORD),
        ("refresh token", s.refresh_token.as_str()),
        ("rotated refresh token", s2.refresh_token.as_str()),
        ("access token", s2.access_token.as_str()),
        ("api key", key.as_str()),
        ("api key secret part", &key[16..]),
        ("reset token", reset.as_str()),
    ] {
        assert!(!text.contains(secret), "the {what} is stored in plaintext");
    }
}
