//! Conformance cases for authentication: every rule of [`crate::auth`] run
//! against a real store.
//!
//! Each case builds its own [`Auth`] on the given store with a
//! [`ManualClock`] (expiry is tested by moving the clock, never by sleeping),
//! a [`MemoryMailer`] and cheap Argon2 parameters, and registers its own
//! users with random emails. A backend runs them all with
//! [`auth_conformance_tests!`](crate::auth_conformance_tests).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;

use crate::auth::{
    Auth, AuthLimits, AuthSettings, FileOutboxMailer, MemoryMailer, NewApiKey, NewUser,
    PasswordParams, SecretKey, Session,
};
use crate::clock::{Clock, ManualClock};
use crate::error::Error;
use crate::ids::{ApiKeyId, WorkspaceId};
use crate::principal::Principal;
use crate::role::{Action, Role, Scope};
use crate::store::AuthStore;

/// The password every case registers with.
pub const PASSWORD: &str = "correct horse battery";
/// A second valid password.
pub const OTHER_PASSWORD: &str = "tr0ub4dor & three";

/// Cheap Argon2id costs so the suite runs quickly; the rehash case moves
/// from these to [`PasswordParams::OWASP`].
pub fn fast_params() -> PasswordParams {
    PasswordParams::new(1024, 1, 1).expect("valid argon2 parameters")
}

/// A random email, unique per call.
pub fn random_email() -> String {
    let tag = crate::ids::RecordId::new().as_str()[8..].to_ascii_lowercase();
    format!("user-{tag}@example.com")
}

/// What a case works with.
pub struct AuthEnv {
    /// The service under test.
    pub auth: Auth,
    /// Its clock.
    pub clock: Arc<ManualClock>,
    /// Its mailbox.
    pub mailer: MemoryMailer,
    /// The store.
    pub store: Arc<dyn AuthStore>,
}

impl std::fmt::Debug for AuthEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthEnv")
            .field("auth", &self.auth)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl AuthEnv {
    /// A service on `store` with fast password hashing and a fresh secret.
    pub fn new(store: Arc<dyn AuthStore>) -> Self {
        Self::with_settings(
            store,
            AuthSettings::new(SecretKey::generate()).with_password_params(fast_params()),
        )
    }

    /// A service on `store` with `settings`.
    pub fn with_settings(store: Arc<dyn AuthStore>, settings: AuthSettings) -> Self {
        Self::on_clock(store, settings, Arc::new(ManualClock::new()))
    }

    /// A service on `store` with `settings` and `clock` (shared by several
    /// services standing for several server instances).
    pub fn on_clock(
        store: Arc<dyn AuthStore>,
        settings: AuthSettings,
        clock: Arc<ManualClock>,
    ) -> Self {
        let mailer = MemoryMailer::new();
        let auth = Auth::new(store.clone(), settings)
            .with_clock(clock.clone())
            .with_mailer(Arc::new(mailer.clone()));
        Self {
            auth,
            clock,
            mailer,
            store,
        }
    }

    /// Registers a new user with [`PASSWORD`].
    pub async fn register(&self) -> Session {
        self.auth
            .register(
                NewUser {
                    email: random_email(),
                    password: PASSWORD.into(),
                    name: "Test User".into(),
                },
                None,
            )
            .await
            .expect("register")
    }

    /// Signs in with [`PASSWORD`].
    pub async fn login(&self, email: &str) -> Session {
        self.auth.login(email, PASSWORD, None).await.expect("login")
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
    }
}

#[track_caller]
pub(crate) fn assert_unauthorized<T: std::fmt::Debug>(r: crate::Result<T>, what: &str) {
    match r {
        Err(Error::Unauthorized(_)) => {}
        other => panic!("{what}: expected Unauthorized, got {other:?}"),
    }
}

#[track_caller]
pub(crate) fn assert_validation<T: std::fmt::Debug>(r: crate::Result<T>, field: &str) {
    match r {
        Err(Error::Validation { fields, .. }) if fields.contains_key(field) => {}
        other => panic!("expected a validation error on {field}, got {other:?}"),
    }
}

#[track_caller]
pub(crate) fn assert_forbidden<T: std::fmt::Debug>(r: crate::Result<T>, what: &str) {
    match r {
        Err(Error::Forbidden(_)) => {}
        other => panic!("{what}: expected Forbidden, got {other:?}"),
    }
}

/// Register, sign in (email in any case), `me`, `update_me`.
pub async fn register_login_and_me(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let email = random_email();
    let shouted = format!("  {}  ", email.to_uppercase());
    let s = env
        .auth
        .register(
            NewUser {
                email: shouted.clone(),
                password: PASSWORD.into(),
                name: " Ann ".into(),
            },
            None,
        )
        .await
        .expect("register");
    assert_eq!(s.user.email, email, "email stored lowercased and trimmed");
    assert_eq!(s.user.name, "Ann");
    assert_eq!(s.token_type, "bearer");
    assert_eq!(s.expires_in, 30 * 60);
    assert_ne!(s.access_token, s.refresh_token);

    let p = env
        .auth
        .authenticate(&s.access_token)
        .await
        .expect("authenticate");
    assert_eq!(p, Principal::user(s.user.id));
    assert_eq!(env.auth.me(&p).await.expect("me"), s.user);

    let again = env
        .auth
        .login(&shouted, PASSWORD, Some("198.51.100.1"))
        .await
        .expect("login with email in another case");
    assert_eq!(again.user.id, s.user.id);
    assert_ne!(again.access_token, s.access_token);
    assert_ne!(again.refresh_token, s.refresh_token);
    env.auth
        .authenticate(&again.access_token)
        .await
        .expect("second session works");

    env.advance(TimeDelta::seconds(5));
    let renamed = env.auth.update_me(&p, "Ann B.").await.expect("update_me");
    assert_eq!(renamed.name, "Ann B.");
    assert!(renamed.updated_at > s.user.updated_at);
    assert_eq!(env.auth.me(&p).await.expect("me").name, "Ann B.");
    assert_validation(env.auth.update_me(&p, "   ").await, "name");
}

/// The same email in another case is a conflict.
pub async fn duplicate_email_case_insensitive(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let s = env.register().await;
    for variant in [
        s.user.email.clone(),
        s.user.email.to_uppercase(),
        format!(" {} ", s.user.email),
    ] {
        let r = env
            .auth
            .register(
                NewUser {
                    email: variant.clone(),
                    password: OTHER_PASSWORD.into(),
                    name: "Other".into(),
                },
                None,
            )
            .await;
        match r {
            Err(Error::Conflict { field, .. }) => assert_eq!(field, "email"),
            other => panic!("{variant}: expected Conflict, got {other:?}"),
        }
    }
    // The original password still signs in: nothing was overwritten.
    env.login(&s.user.email).await;
}

/// Short, common and email-equal passwords, bad emails and names are refused.
pub async fn weak_passwords_rejected(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let email = random_email();
    let weak = [
        "short1!".to_owned(),
        "password".to_owned(),
        "12345678".to_owned(),
        "123456789".to_owned(),
        "Qwertyuiop".to_owned(),
        email.clone(),
        email.to_uppercase(),
    ];
    for password in weak {
        let r = env
            .auth
            .register(
                NewUser {
                    email: email.clone(),
                    password: password.clone(),
                    name: "Ann".into(),
                },
                None,
            )
            .await;
        assert_validation(r, "password");
    }
    for bad_email in ["", "not-an-email", "a@b", "two words@example.com"] {
        let r = env
            .auth
            .register(
                NewUser {
                    email: bad_email.into(),
                    password: PASSWORD.into(),
                    name: "Ann".into(),
                },
                None,
            )
            .await;
        assert_validation(r, "email");
    }
    let r = env
        .auth
        .register(
            NewUser {
                email: email.clone(),
                password: PASSWORD.into(),
                name: " ".into(),
            },
            None,
        )
        .await;
    assert_validation(r, "name");
    // Nothing was created by the refused attempts.
    assert_unauthorized(env.auth.login(&email, PASSWORD, None).await, "login");
}

/// Wrong password and unknown email answer the same error.
pub async fn wrong_password_and_unknown_email_same_error(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let s = env.register().await;
    let wrong = env.auth.login(&s.user.email, OTHER_PASSWORD, None).await;
    let unknown = env.auth.login(&random_email(), PASSWORD, None).await;
    let empty = env.auth.login("", "", None).await;
    let (Err(Error::Unauthorized(a)), Err(Error::Unauthorized(b)), Err(Error::Unauthorized(c))) =
        (&wrong, &unknown, &empty)
    else {
        panic!("expected Unauthorized three times: {wrong:?} {unknown:?} {empty:?}");
    };
    assert_eq!(a, b);
    assert_eq!(b, c);
}

/// Refresh spends the token and issues a new pair in the same family;
/// presenting the spent token again (a thief, or the victim after a theft)
/// revokes the whole family, including the pair issued to the thief.
pub async fn refresh_rotates_and_spent_token_revokes_family(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let s1 = env.register().await;
    let other = env.login(&s1.user.email).await;

    env.advance(TimeDelta::seconds(10));
    let s2 = env.auth.refresh(&s1.refresh_token).await.expect("refresh");
    assert_eq!(s2.user.id, s1.user.id);
    assert_ne!(s2.refresh_token, s1.refresh_token);
    assert_ne!(s2.access_token, s1.access_token);
    env.auth
        .authenticate(&s2.access_token)
        .await
        .expect("new access works");
    let s3 = env
        .auth
        .refresh(&s2.refresh_token)
        .await
        .expect("second refresh");

    // The stolen first token comes back.
    assert_unauthorized(env.auth.refresh(&s1.refresh_token).await, "spent token");
    // The whole family is dead now: the latest refresh and access tokens too.
    assert_unauthorized(env.auth.refresh(&s3.refresh_token).await, "family refresh");
    assert_unauthorized(
        env.auth.authenticate(&s3.access_token).await,
        "family access",
    );
    assert_unauthorized(
        env.auth.authenticate(&s1.access_token).await,
        "first access",
    );
    // Another login (another family) is untouched.
    env.auth
        .authenticate(&other.access_token)
        .await
        .expect("other family access");
    env.auth
        .refresh(&other.refresh_token)
        .await
        .expect("other family refresh");
}

/// Two concurrent refreshes of one token: exactly one wins.
pub async fn concurrent_refresh_has_one_winner(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let s = env.register().await;
    let (a, b) = tokio::join!(
        env.auth.refresh(&s.refresh_token),
        env.auth.refresh(&s.refresh_token)
    );
    assert_eq!(
        usize::from(a.is_ok()) + usize::from(b.is_ok()),
        1,
        "{a:?} {b:?}"
    );
}

/// Logout revokes the family's refresh and access tokens, and only those.
pub async fn logout_revokes_family(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let a = env.register().await;
    let b = env.login(&a.user.email).await;
    let a2 = env.auth.refresh(&a.refresh_token).await.expect("refresh");
    env.auth.logout(&a2.refresh_token).await.expect("logout");
    assert_unauthorized(
        env.auth.authenticate(&a2.access_token).await,
        "access after logout",
    );
    assert_unauthorized(env.auth.authenticate(&a.access_token).await, "older access");
    assert_unauthorized(
        env.auth.refresh(&a2.refresh_token).await,
        "refresh after logout",
    );
    env.auth
        .authenticate(&b.access_token)
        .await
        .expect("other session");
    // Logout wants a refresh token, not an access token, nor garbage.
    assert_unauthorized(env.auth.logout(&b.access_token).await, "logout with access");
    assert_unauthorized(env.auth.logout("nonsense").await, "logout with garbage");
    // An expired (but authentic) refresh token still logs out.
    env.advance(TimeDelta::days(8));
    env.auth
        .logout(&b.refresh_token)
        .await
        .expect("logout with expired token");
}

/// Changing the password revokes every session of the user.
pub async fn password_change_revokes_sessions(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let a = env.register().await;
    let b = env.login(&a.user.email).await;
    let p = env.auth.authenticate(&a.access_token).await.expect("auth");

    assert_forbidden(
        env.auth.change_password(&p, OTHER_PASSWORD, PASSWORD).await,
        "a wrong current password",
    );
    assert_validation(
        env.auth.change_password(&p, PASSWORD, "password").await,
        "new_password",
    );
    assert_validation(
        env.auth.change_password(&p, PASSWORD, PASSWORD).await,
        "new_password",
    );
    // The refused attempts changed nothing.
    env.auth
        .authenticate(&b.access_token)
        .await
        .expect("still signed in");

    env.auth
        .change_password(&p, PASSWORD, OTHER_PASSWORD)
        .await
        .expect("change password");
    for s in [&a, &b] {
        assert_unauthorized(env.auth.authenticate(&s.access_token).await, "old access");
        assert_unauthorized(env.auth.refresh(&s.refresh_token).await, "old refresh");
    }
    assert_unauthorized(
        env.auth.login(&a.user.email, PASSWORD, None).await,
        "old password",
    );
    env.advance(TimeDelta::milliseconds(1));
    let fresh = env
        .auth
        .login(&a.user.email, OTHER_PASSWORD, None)
        .await
        .expect("new password");
    env.auth
        .authenticate(&fresh.access_token)
        .await
        .expect("fresh session");
}

/// A refresh token is never an access token, nor the reverse.
pub async fn refresh_token_not_accepted_as_access_and_vice_versa(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let s = env.register().await;
    assert_unauthorized(
        env.auth.authenticate(&s.refresh_token).await,
        "refresh as access",
    );
    assert_unauthorized(env.auth.refresh(&s.access_token).await, "access as refresh");
    // Neither attempt disturbed the real session.
    env.auth
        .authenticate(&s.access_token)
        .await
        .expect("access");
    env.auth.refresh(&s.refresh_token).await.expect("refresh");
}

fn reheader(token: &str, header_json: &[u8], signature: &str) -> String {
    let payload = token.split('.').nth(1).unwrap_or_default();
    format!(
        "{}.{payload}.{signature}",
        URL_SAFE_NO_PAD.encode(header_json)
    )
}

/// `alg: none`, other algorithms, other secrets and tampered tokens are refused.
pub async fn alg_none_and_bad_signature_rejected(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store.clone());
    let s = env.register().await;
    let t = &s.access_token;
    let sig = t.rsplit('.').next().unwrap_or_default();
    let forged = [
        reheader(t, br#"{"alg":"none","typ":"JWT"}"#, ""),
        reheader(t, br#"{"alg":"none"}"#, sig),
        reheader(t, br#"{"alg":"HS512","typ":"JWT"}"#, sig),
        reheader(t, br#"{"alg":"RS256","typ":"JWT"}"#, sig),
        format!("{}.{}", &t[..t.len() - sig.len() - 1], "AAAA"),
        format!("{t}x"),
        String::new(),
        "Bearer".into(),
        "a.b.c".into(),
    ];
    for token in &forged {
        assert_unauthorized(env.auth.authenticate(token).await, token);
    }
    // A token signed with another secret, for the same real user.
    let other = AuthEnv::new(store);
    let theirs = other
        .auth
        .login(&s.user.email, PASSWORD, None)
        .await
        .expect("login through another secret");
    assert_unauthorized(
        env.auth.authenticate(&theirs.access_token).await,
        "other secret",
    );
    assert_unauthorized(
        env.auth.refresh(&theirs.refresh_token).await,
        "other secret refresh",
    );
    // A payload edited to name another user, under the original signature.
    let victim = env.register().await;
    let mut claims: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(t.split('.').nth(1).unwrap_or_default())
            .expect("payload is base64"),
    )
    .expect("payload is json");
    claims["sub"] = serde_json::Value::String(victim.user.id.to_string());
    let parts: Vec<&str> = t.split('.').collect();
    let edited = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    assert_unauthorized(env.auth.authenticate(&edited).await, "edited payload");
}

/// Access tokens, refresh tokens and reset tokens expire by the clock.
pub async fn expiry_via_manual_clock(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let s = env.register().await;

    env.advance(TimeDelta::minutes(30) - TimeDelta::seconds(1));
    env.auth
        .authenticate(&s.access_token)
        .await
        .expect("just before expiry");
    env.advance(TimeDelta::seconds(1));
    assert_unauthorized(
        env.auth.authenticate(&s.access_token).await,
        "expired access",
    );

    // The refresh token outlives the access token.
    let s2 = env.auth.refresh(&s.refresh_token).await.expect("refresh");
    env.auth
        .authenticate(&s2.access_token)
        .await
        .expect("new access");
    env.advance(TimeDelta::days(7));
    assert_unauthorized(env.auth.refresh(&s2.refresh_token).await, "expired refresh");

    // A reset token lives one hour.
    env.auth
        .request_password_reset(&s.user.email, None)
        .await
        .expect("request");
    env.auth.flush_background().await;
    let token = env.mailer.last_token_for(&s.user.email).expect("mailed");
    env.advance(TimeDelta::hours(1));
    assert_unauthorized(
        env.auth
            .confirm_password_reset(&token, OTHER_PASSWORD)
            .await,
        "expired reset token",
    );
    env.login(&s.user.email).await;
}

/// A deleted user's tokens and keys stop working.
pub async fn deleted_user_token_rejected(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let s = env.register().await;
    let p = env.auth.authenticate(&s.access_token).await.expect("auth");
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
        .expect("key");
    env.store.delete_user(s.user.id).await.expect("delete user");
    assert_unauthorized(env.auth.authenticate(&s.access_token).await, "access");
    assert_unauthorized(env.auth.refresh(&s.refresh_token).await, "refresh");
    assert_unauthorized(env.auth.authenticate(&key).await, "api key");
    assert_unauthorized(env.auth.login(&s.user.email, PASSWORD, None).await, "login");
}

/// Create, list (no secret), use (touching `last_used_at` at most once a
/// minute), and delete a key, which stops it at once.
pub async fn api_key_roundtrip_and_delete_stops_it(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let s = env.register().await;
    let p = env.auth.authenticate(&s.access_token).await.expect("auth");
    let (key, secret) = env
        .auth
        .create_api_key(
            &p,
            NewApiKey {
                name: " deploy ".into(),
                ..NewApiKey::default()
            },
        )
        .await
        .expect("create key");
    assert!(secret.starts_with("pbk_"), "{secret}");
    assert!(secret.len() >= 4 + 43, "at least 32 random bytes");
    assert!(secret.starts_with(&key.prefix) && key.prefix.len() == 12);
    assert_eq!(key.name, "deploy");
    assert_eq!(key.scopes, Scope::ALL.to_vec());
    assert_eq!(key.workspaces, None);
    assert_eq!(key.user_id, s.user.id);
    assert_eq!(key.last_used_at, None);

    let listed = env.auth.list_api_keys(&p).await.expect("list");
    assert_eq!(listed, vec![key.clone()]);

    let kp = env.auth.authenticate(&secret).await.expect("key works");
    assert_eq!(
        kp,
        Principal::ApiKey {
            id: key.id,
            user_id: s.user.id,
            scopes: Scope::ALL.to_vec(),
            workspaces: None,
            expires_at: None,
        }
    );
    let first_use = env.clock.now();
    let used = env.auth.list_api_keys(&p).await.expect("list")[0].last_used_at;
    assert_eq!(used, Some(first_use));
    env.advance(TimeDelta::seconds(30));
    env.auth.authenticate(&secret).await.expect("key works");
    let used = env.auth.list_api_keys(&p).await.expect("list")[0].last_used_at;
    assert_eq!(used, Some(first_use), "not written again within a minute");
    env.advance(TimeDelta::seconds(31));
    env.auth.authenticate(&secret).await.expect("key works");
    let used = env.auth.list_api_keys(&p).await.expect("list")[0].last_used_at;
    assert_eq!(used, Some(env.clock.now()));

    // Same prefix, wrong secret.
    let last = secret.chars().last().unwrap_or('A');
    let wrong = format!(
        "{}{}",
        &secret[..secret.len() - 1],
        if last == 'A' { 'B' } else { 'A' }
    );
    assert_unauthorized(env.auth.authenticate(&wrong).await, "wrong secret");
    assert_unauthorized(env.auth.authenticate("pbk_short").await, "malformed key");

    // Another user can neither see nor delete it.
    let other = env.register().await;
    let op = Principal::user(other.user.id);
    assert!(env.auth.list_api_keys(&op).await.expect("list").is_empty());
    match env.auth.delete_api_key(&op, key.id).await {
        Err(Error::NotFound { .. }) => {}
        r => panic!("expected NotFound, got {r:?}"),
    }
    env.auth.authenticate(&secret).await.expect("still works");

    env.auth.delete_api_key(&p, key.id).await.expect("delete");
    assert_unauthorized(env.auth.authenticate(&secret).await, "deleted key");
    assert!(env.auth.list_api_keys(&p).await.expect("list").is_empty());
    match env.auth.delete_api_key(&p, key.id).await {
        Err(Error::NotFound { .. }) => {}
        r => panic!("expected NotFound, got {r:?}"),
    }
    match env.auth.delete_api_key(&p, ApiKeyId::new()).await {
        Err(Error::NotFound { .. }) => {}
        r => panic!("expected NotFound, got {r:?}"),
    }
}

/// A key with an expiry stops at that time; a past expiry is refused.
pub async fn api_key_expiry(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let s = env.register().await;
    let p = Principal::user(s.user.id);
    let r = env
        .auth
        .create_api_key(
            &p,
            NewApiKey {
                name: "old".into(),
                expires_at: Some(env.clock.now()),
                ..NewApiKey::default()
            },
        )
        .await;
    assert_validation(r, "expires_at");
    let (key, secret) = env
        .auth
        .create_api_key(
            &p,
            NewApiKey {
                name: "temp".into(),
                expires_at: Some(env.clock.now() + TimeDelta::hours(1)),
                ..NewApiKey::default()
            },
        )
        .await
        .expect("key");
    assert_eq!(key.expires_at, Some(env.clock.now() + TimeDelta::hours(1)));
    env.advance(TimeDelta::minutes(59));
    env.auth.authenticate(&secret).await.expect("before expiry");
    env.advance(TimeDelta::minutes(1));
    assert_unauthorized(env.auth.authenticate(&secret).await, "expired key");
}

/// Scopes and workspaces travel in the principal; scopes intersect with the
/// owner's role; account operations need the admin scope; a key cannot mint
/// a broader key.
pub async fn api_key_workspace_limit_and_scopes_in_principal(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let s = env.register().await;
    let user = Principal::user(s.user.id);
    let (w1, w2) = (WorkspaceId::new(), WorkspaceId::new());

    let (_, read_key) = env
        .auth
        .create_api_key(
            &user,
            NewApiKey {
                name: "reader".into(),
                scopes: Some(vec![Scope::Read, Scope::Read]),
                workspaces: Some(vec![w1]),
                expires_at: None,
            },
        )
        .await
        .expect("key");
    let kp = env.auth.authenticate(&read_key).await.expect("auth");
    assert_eq!(kp.user_id(), s.user.id);
    assert_eq!(kp.scopes(), Some(&[Scope::Read][..]));
    assert!(kp.can_see_workspace(w1));
    assert!(
        !kp.can_see_workspace(w2),
        "outside its workspaces a key sees nothing"
    );
    assert!(kp.allows(Role::Viewer, Action::Read));
    assert!(
        !kp.allows(Role::Owner, Action::WriteRecords),
        "scope caps the owner"
    );
    assert!(!kp.can_manage_account());
    assert_forbidden(env.auth.me(&kp).await, "me without admin scope");
    assert_forbidden(
        env.auth.list_api_keys(&kp).await,
        "list without admin scope",
    );
    assert_forbidden(
        env.auth
            .create_api_key(
                &kp,
                NewApiKey {
                    name: "x".into(),
                    ..NewApiKey::default()
                },
            )
            .await,
        "create without admin scope",
    );

    // A write key cannot exceed its user's role.
    let (_, write_key) = env
        .auth
        .create_api_key(
            &user,
            NewApiKey {
                name: "writer".into(),
                scopes: Some(vec![Scope::Write, Scope::Read]),
                ..NewApiKey::default()
            },
        )
        .await
        .expect("key");
    let wp = env.auth.authenticate(&write_key).await.expect("auth");
    assert_eq!(wp.scopes(), Some(&[Scope::Read, Scope::Write][..]));
    assert!(wp.allows(Role::Editor, Action::WriteRecords));
    assert!(
        !wp.allows(Role::Viewer, Action::WriteRecords),
        "role caps the key"
    );
    assert!(!wp.allows(Role::Owner, Action::ChangeSchema));

    // An admin-scoped key limited to w1 manages the account but cannot widen.
    let (_, admin_key) = env
        .auth
        .create_api_key(
            &user,
            NewApiKey {
                name: "admin".into(),
                scopes: Some(vec![Scope::Read, Scope::Admin]),
                workspaces: Some(vec![w1]),
                expires_at: None,
            },
        )
        .await
        .expect("key");
    let ap = env.auth.authenticate(&admin_key).await.expect("auth");
    assert_eq!(env.auth.me(&ap).await.expect("me").id, s.user.id);
    // It sees the keys limited to w1 (the reader and itself), not the
    // unrestricted writer (REVIEW-security M3).
    assert_eq!(env.auth.list_api_keys(&ap).await.expect("list").len(), 2);
    assert_forbidden(
        env.auth
            .create_api_key(
                &ap,
                NewApiKey {
                    name: "wider".into(),
                    scopes: Some(vec![Scope::Write]),
                    ..NewApiKey::default()
                },
            )
            .await,
        "wider scopes",
    );
    assert_forbidden(
        env.auth
            .create_api_key(
                &ap,
                NewApiKey {
                    name: "elsewhere".into(),
                    workspaces: Some(vec![w2]),
                    ..NewApiKey::default()
                },
            )
            .await,
        "other workspace",
    );
    let (inherited, _) = env
        .auth
        .create_api_key(
            &ap,
            NewApiKey {
                name: "child".into(),
                ..NewApiKey::default()
            },
        )
        .await
        .expect("child key");
    assert_eq!(inherited.scopes, vec![Scope::Read, Scope::Admin]);
    assert_eq!(inherited.workspaces, Some(vec![w1]));

    assert_validation(
        env.auth
            .create_api_key(
                &user,
                NewApiKey {
                    name: "none".into(),
                    scopes: Some(vec![]),
                    ..NewApiKey::default()
                },
            )
            .await,
        "scopes",
    );
    assert_validation(
        env.auth
            .create_api_key(
                &user,
                NewApiKey {
                    name: "nowhere".into(),
                    workspaces: Some(vec![]),
                    ..NewApiKey::default()
                },
            )
            .await,
        "workspaces",
    );
}

/// A reset token sets a new password once, and revokes every session.
pub async fn password_reset_single_use_and_revokes_sessions(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let s = env.register().await;
    env.auth
        .request_password_reset(&s.user.email.to_uppercase(), None)
        .await
        .expect("request");
    env.auth.flush_background().await;
    let messages = env.mailer.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].to, s.user.email);
    let token = messages[0].token.clone();
    assert!(messages[0].body.contains(&token));

    // A weak password is refused without spending the token.
    assert_validation(
        env.auth.confirm_password_reset(&token, "password").await,
        "new_password",
    );
    assert_unauthorized(
        env.auth
            .confirm_password_reset("not-a-token", OTHER_PASSWORD)
            .await,
        "unknown token",
    );
    env.auth
        .confirm_password_reset(&token, OTHER_PASSWORD)
        .await
        .expect("confirm");
    assert_unauthorized(env.auth.authenticate(&s.access_token).await, "old access");
    assert_unauthorized(env.auth.refresh(&s.refresh_token).await, "old refresh");
    assert_unauthorized(
        env.auth.login(&s.user.email, PASSWORD, None).await,
        "old password",
    );
    env.advance(TimeDelta::milliseconds(1));
    env.auth
        .login(&s.user.email, OTHER_PASSWORD, None)
        .await
        .expect("new password");
    // Reuse of the token.
    assert_unauthorized(
        env.auth
            .confirm_password_reset(&token, "yet another password")
            .await,
        "reused token",
    );
    env.auth
        .login(&s.user.email, OTHER_PASSWORD, None)
        .await
        .expect("reuse changed nothing");
}

/// Requests for unknown emails succeed and send nothing; the file outbox
/// receives the message for a known one.
pub async fn reset_request_for_unknown_email_succeeds_and_sends_nothing(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store.clone());
    env.auth
        .request_password_reset(&random_email(), None)
        .await
        .expect("unknown email");
    env.auth.flush_background().await;
    env.auth
        .request_password_reset("not an email at all", None)
        .await
        .expect("garbage");
    env.auth.flush_background().await;
    assert!(env.mailer.messages().is_empty());

    let dir = std::env::temp_dir().join(format!("pybase-outbox-{}", crate::ids::RecordId::new()));
    let outbox = FileOutboxMailer::new(&dir);
    let auth = env.auth.clone().with_mailer(Arc::new(outbox));
    let s = env.register().await;
    auth.request_password_reset(&random_email(), None)
        .await
        .expect("unknown");
    auth.flush_background().await;
    assert!(!dir.exists(), "nothing written for an unknown email");
    auth.request_password_reset(&s.user.email, None)
        .await
        .expect("known");
    auth.flush_background().await;
    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("outbox created")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[0]).expect("read")).expect("json");
    assert_eq!(v["to"], s.user.email.as_str());
    let token = v["token"].as_str().expect("token").to_owned();
    assert!(v["subject"].is_string() && v["body"].as_str().is_some_and(|b| b.contains(&token)));
    auth.confirm_password_reset(&token, OTHER_PASSWORD)
        .await
        .expect("token from the outbox works");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A hash made with weaker parameters is replaced at the next login.
pub async fn rehash_on_login_with_weaker_params(store: Arc<dyn AuthStore>) {
    let secret = SecretKey::generate();
    let weak = AuthEnv::with_settings(
        store.clone(),
        AuthSettings::new(secret.clone()).with_password_params(fast_params()),
    );
    let s = weak.register().await;
    let before = store
        .get_credentials(s.user.id)
        .await
        .expect("creds")
        .password_hash;
    assert!(
        before.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
        "{before}"
    );

    let strong = AuthEnv::with_settings(store.clone(), AuthSettings::new(secret));
    strong.login(&s.user.email).await;
    let after = store
        .get_credentials(s.user.id)
        .await
        .expect("creds")
        .password_hash;
    assert!(
        after.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{after}"
    );
    strong.login(&s.user.email).await;
    // Logging in under weaker settings never downgrades.
    weak.login(&s.user.email).await;
    let kept = store
        .get_credentials(s.user.id)
        .await
        .expect("creds")
        .password_hash;
    assert_eq!(kept, after);
    // A wrong password never rewrites the hash.
    assert_unauthorized(
        strong.auth.login(&s.user.email, OTHER_PASSWORD, None).await,
        "wrong",
    );
}

/// Failed logins are limited per email and per client address.
pub async fn rate_limit_after_failures(store: Arc<dyn AuthStore>) {
    let mut settings = AuthSettings::new(SecretKey::generate()).with_password_params(fast_params());
    settings.limits = AuthLimits {
        login_per_email_client: 3,
        login_per_client: 5,
        ..AuthLimits::default()
    };
    let env = AuthEnv::with_settings(store, settings);
    let s = env.register().await;
    let email = s.user.email.as_str();

    // A success clears the email's count.
    for _ in 0..2 {
        assert_unauthorized(env.auth.login(email, OTHER_PASSWORD, None).await, "wrong");
    }
    env.login(email).await;
    for _ in 0..3 {
        assert_unauthorized(env.auth.login(email, OTHER_PASSWORD, None).await, "wrong");
    }
    // Over the limit even the right password is refused, in any case of email.
    for attempt in [email.to_owned(), email.to_uppercase()] {
        match env.auth.login(&attempt, PASSWORD, None).await {
            Err(Error::RateLimited { retry_after_secs }) => {
                assert!((1..=900).contains(&retry_after_secs), "{retry_after_secs}");
            }
            other => panic!("expected RateLimited, got {other:?}"),
        }
    }
    env.advance(TimeDelta::minutes(15));
    env.login(email).await;

    // Per client: failures across many emails from one address.
    let client = "203.0.113.9";
    for _ in 0..5 {
        let r = env
            .auth
            .login(&random_email(), PASSWORD, Some(client))
            .await;
        assert_unauthorized(r, "unknown email");
    }
    match env.auth.login(email, PASSWORD, Some(client)).await {
        Err(Error::RateLimited { .. }) => {}
        other => panic!("expected RateLimited for the client, got {other:?}"),
    }
    env.auth
        .login(email, PASSWORD, Some("203.0.113.10"))
        .await
        .expect("another client is not limited");
}

/// Expands to one `#[tokio::test]` per auth conformance case. `$make` is an
/// expression evaluating to a future of `Arc<dyn Store>` (or of any
/// `Arc<dyn AuthStore>`); it is evaluated once per test.
///
/// ```ignore
/// pybase_core::auth_conformance_tests!(async {
///     std::sync::Arc::new(MyStore::open_in_memory().unwrap())
///         as std::sync::Arc<dyn pybase_core::store::Store>
/// });
/// ```
#[macro_export]
macro_rules! auth_conformance_tests {
    ($make:expr) => {
        $crate::__auth_conformance_cases!($make;
            auth::register_login_and_me,
            auth::duplicate_email_case_insensitive,
            auth::weak_passwords_rejected,
            auth::wrong_password_and_unknown_email_same_error,
            auth::refresh_rotates_and_spent_token_revokes_family,
            auth::concurrent_refresh_has_one_winner,
            auth::logout_revokes_family,
            auth::password_change_revokes_sessions,
            auth::refresh_token_not_accepted_as_access_and_vice_versa,
            auth::alg_none_and_bad_signature_rejected,
            auth::expiry_via_manual_clock,
            auth::deleted_user_token_rejected,
            auth::api_key_roundtrip_and_delete_stops_it,
            auth::api_key_expiry,
            auth::api_key_workspace_limit_and_scopes_in_principal,
            auth::password_reset_single_use_and_revokes_sessions,
            auth::reset_request_for_unknown_email_succeeds_and_sends_nothing,
            auth::rehash_on_login_with_weaker_params,
            auth::rate_limit_after_failures,
            auth_attacks::refresh_in_flight_dies_with_password_change,
            auth_attacks::refresh_in_flight_dies_with_logout,
            auth_attacks::refresh_in_flight_dies_with_reuse_detection,
            auth_attacks::revocations_survive_a_restart,
            auth_attacks::concurrent_logins_cannot_pass_the_limit,
            auth_attacks::client_budgets_group_ipv6_and_hold_per_address,
            auth_attacks::a_guesser_cannot_lock_the_owner_out,
            auth_attacks::oversized_login_input_is_refused_first,
            auth_attacks::api_key_cannot_outlive_its_creator,
            auth_attacks::workspace_limited_key_reaches_only_its_keys,
            auth_attacks::reset_tokens_die_with_a_reset_or_password_change,
            auth_attacks::reset_requests_are_throttled,
            auth_attacks::registrations_are_throttled_per_client,
            auth_cache::cached_key_dies_with_its_deletion,
            auth_cache::cached_sessions_die_with_every_revocation,
            auth_cache::cached_key_is_matched_whole_and_expires,
            auth_cache::revocations_elsewhere_hold_within_the_ttl,
        );
    };
}

/// Implementation detail of [`auth_conformance_tests!`](crate::auth_conformance_tests).
#[doc(hidden)]
#[macro_export]
macro_rules! __auth_conformance_cases {
    ($make:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store = $make.await;
                $crate::testkit::$module::$case(store).await;
            }
        )*
    };
}
