//! Conformance cases for the attacks the security review found
//! (`REVIEW-security.md` H1, M1, M3 to M6, L3): each case is the review's
//! proof turned into a test that fails on the code it described.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::TimeDelta;
use tokio::sync::Notify;

use super::auth::{
    AuthEnv, OTHER_PASSWORD, PASSWORD, assert_unauthorized, assert_validation, fast_params,
    random_email,
};
use crate::auth::{AuthLimits, AuthSettings, NewApiKey, NewUser, SecretKey};
use crate::clock::Clock;
use crate::error::{Error, StoreResult};
use crate::ids::{ApiKeyId, UserId, WorkspaceId};
use crate::model::{ApiKey, Timestamp, User};
use crate::role::Scope;
use crate::store::{
    AuthStore, PasswordReset, RefreshToken, RotateOutcome, SessionState, StoredApiKey,
    UserCredentials,
};

#[track_caller]
fn assert_rate_limited<T: std::fmt::Debug>(r: crate::Result<T>, what: &str) {
    match r {
        Err(Error::RateLimited { .. }) => {}
        other => panic!("{what}: expected RateLimited, got {other:?}"),
    }
}

/// An [`AuthStore`] that forwards everything, except that the first
/// `rotate_refresh_token` after [`Gate::arm`] waits at the gate until
/// [`Gate::release`]: a refresh held in flight while something else runs.
struct Gate {
    inner: Arc<dyn AuthStore>,
    armed: AtomicBool,
    entered: Notify,
    release: Notify,
}

impl Gate {
    fn new(inner: Arc<dyn AuthStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            armed: AtomicBool::new(false),
            entered: Notify::new(),
            release: Notify::new(),
        })
    }

    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl AuthStore for Gate {
    async fn create_user(&self, user: &User, password_hash: &str) -> StoreResult<()> {
        self.inner.create_user(user, password_hash).await
    }
    async fn get_user(&self, id: UserId) -> StoreResult<User> {
        self.inner.get_user(id).await
    }
    async fn get_users(&self, ids: &[UserId]) -> StoreResult<Vec<User>> {
        self.inner.get_users(ids).await
    }
    async fn find_credentials(&self, email: &str) -> StoreResult<Option<UserCredentials>> {
        self.inner.find_credentials(email).await
    }
    async fn get_credentials(&self, id: UserId) -> StoreResult<UserCredentials> {
        self.inner.get_credentials(id).await
    }
    async fn update_user(&self, user: &User) -> StoreResult<()> {
        self.inner.update_user(user).await
    }
    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        at: Timestamp,
    ) -> StoreResult<()> {
        self.inner.set_password_hash(id, password_hash, at).await
    }
    async fn delete_user(&self, id: UserId) -> StoreResult<()> {
        self.inner.delete_user(id).await
    }
    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()> {
        self.inner.insert_refresh_token(token).await
    }
    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        at: Timestamp,
        next: &RefreshToken,
    ) -> StoreResult<RotateOutcome> {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.entered.notify_one();
            self.release.notified().await;
        }
        self.inner.rotate_refresh_token(token_hash, at, next).await
    }
    async fn revoke_token_family(&self, family_id: &str, at: Timestamp) -> StoreResult<()> {
        self.inner.revoke_token_family(family_id, at).await
    }
    async fn revoke_user_tokens(&self, user_id: UserId, at: Timestamp) -> StoreResult<()> {
        self.inner.revoke_user_tokens(user_id, at).await
    }
    async fn session_state(
        &self,
        user_id: UserId,
        family_id: &str,
    ) -> StoreResult<Option<SessionState>> {
        self.inner.session_state(user_id, family_id).await
    }
    async fn insert_password_reset(&self, reset: &PasswordReset) -> StoreResult<()> {
        self.inner.insert_password_reset(reset).await
    }
    async fn use_password_reset(
        &self,
        token_hash: &str,
        at: Timestamp,
    ) -> StoreResult<Option<PasswordReset>> {
        self.inner.use_password_reset(token_hash, at).await
    }
    async fn create_api_key(&self, key: &StoredApiKey) -> StoreResult<()> {
        self.inner.create_api_key(key).await
    }
    async fn find_api_key(&self, prefix: &str) -> StoreResult<Option<StoredApiKey>> {
        self.inner.find_api_key(prefix).await
    }
    async fn list_api_keys(&self, user_id: UserId) -> StoreResult<Vec<ApiKey>> {
        self.inner.list_api_keys(user_id).await
    }
    async fn delete_api_key(&self, user_id: UserId, id: ApiKeyId) -> StoreResult<()> {
        self.inner.delete_api_key(user_id, id).await
    }
    async fn touch_api_key(&self, id: ApiKeyId, at: Timestamp) -> StoreResult<()> {
        self.inner.touch_api_key(id, at).await
    }
}

/// What ends the session while a refresh is held in flight.
#[derive(Debug, Clone, Copy)]
enum Ender {
    ChangePassword,
    Logout,
    Reuse,
}

/// H1: a refresh in flight when the session is ended (password change,
/// logout, reuse of a spent token) must not leave a working token behind.
async fn refresh_in_flight_is_stopped_by(store: Arc<dyn AuthStore>, ender: Ender) {
    let gate = Gate::new(store);
    let env = AuthEnv::new(gate.clone());
    let s = env.register().await;
    // For reuse detection: a token of the family that was already spent.
    let spent = s.clone();
    let s = env
        .auth
        .refresh(&s.refresh_token)
        .await
        .expect("first refresh");
    env.advance(TimeDelta::seconds(1));
    let p = env.auth.authenticate(&s.access_token).await.expect("auth");

    gate.arm();
    let racing = tokio::spawn({
        let auth = env.auth.clone();
        let token = s.refresh_token.clone();
        async move { auth.refresh(&token).await }
    });
    gate.entered.notified().await;
    match ender {
        Ender::ChangePassword => env
            .auth
            .change_password(&p, PASSWORD, OTHER_PASSWORD)
            .await
            .expect("change password"),
        Ender::Logout => env.auth.logout(&s.refresh_token).await.expect("logout"),
        Ender::Reuse => assert_unauthorized(env.auth.refresh(&spent.refresh_token).await, "reuse"),
    }
    gate.release.notify_one();
    let raced = racing.await.expect("task");
    env.advance(TimeDelta::seconds(1));
    match raced {
        Err(Error::Unauthorized(_)) => {}
        Ok(stolen) => {
            assert_unauthorized(
                env.auth.refresh(&stolen.refresh_token).await,
                &format!("{ender:?}: the raced refresh token"),
            );
            assert_unauthorized(
                env.auth.authenticate(&stolen.access_token).await,
                &format!("{ender:?}: the raced access token"),
            );
        }
        Err(other) => panic!("{ender:?}: unexpected {other:?}"),
    }
}

/// H1 with a password change in the middle of a refresh.
pub async fn refresh_in_flight_dies_with_password_change(store: Arc<dyn AuthStore>) {
    refresh_in_flight_is_stopped_by(store, Ender::ChangePassword).await;
}

/// H1 with a logout in the middle of a refresh.
pub async fn refresh_in_flight_dies_with_logout(store: Arc<dyn AuthStore>) {
    refresh_in_flight_is_stopped_by(store, Ender::Logout).await;
}

/// H1 with reuse detection in the middle of a refresh.
pub async fn refresh_in_flight_dies_with_reuse_detection(store: Arc<dyn AuthStore>) {
    refresh_in_flight_is_stopped_by(store, Ender::Reuse).await;
}

/// L3: revocations live in the store, so a new service on the same store
/// (a restart, or another server instance) refuses revoked access tokens.
pub async fn revocations_survive_a_restart(store: Arc<dyn AuthStore>) {
    let settings = AuthSettings::new(SecretKey::generate()).with_password_params(fast_params());
    let env = AuthEnv::with_settings(store.clone(), settings.clone());
    let a = env.register().await;
    let b = env.login(&a.user.email).await;
    env.auth.logout(&a.refresh_token).await.expect("logout");
    let restarted = AuthEnv::with_settings(store.clone(), settings.clone());
    assert_unauthorized(
        restarted.auth.authenticate(&a.access_token).await,
        "logged out",
    );
    restarted
        .auth
        .authenticate(&b.access_token)
        .await
        .expect("the other session lives");
    let p = env.auth.authenticate(&b.access_token).await.expect("auth");
    env.auth
        .change_password(&p, PASSWORD, OTHER_PASSWORD)
        .await
        .expect("change");
    let restarted = AuthEnv::with_settings(store, settings);
    assert_unauthorized(
        restarted.auth.authenticate(&b.access_token).await,
        "cut off",
    );
}

fn limited_env(store: Arc<dyn AuthStore>, limits: AuthLimits) -> AuthEnv {
    let mut settings = AuthSettings::new(SecretKey::generate()).with_password_params(fast_params());
    settings.limits = limits;
    AuthEnv::with_settings(store, settings)
}

/// M1.1: fifty concurrent wrong logins for one email: at most the limit
/// reach the password check; the rest are refused before it.
pub async fn concurrent_logins_cannot_pass_the_limit(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let s = env.register().await;
    let per_email = env.auth.settings().limits.login_per_email_client;
    let attempts = (0..50).map(|_| {
        let auth = env.auth.clone();
        let email = s.user.email.clone();
        tokio::spawn(async move {
            auth.login(&email, "wrong password", Some("203.0.113.9"))
                .await
        })
    });
    let mut unauthorized = 0;
    let mut limited = 0;
    for r in futures::future::join_all(attempts).await {
        match r.expect("task") {
            Err(Error::Unauthorized(_)) => unauthorized += 1,
            Err(Error::RateLimited { .. }) => limited += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        unauthorized <= per_email as usize,
        "{unauthorized} attempts reached the password check (limit {per_email})"
    );
    assert_eq!(unauthorized + limited, 50);
}

/// M1.2 and M1.3: an IPv6 client is one budget per /64; a client over its
/// budget is refused even for another user's right password (the policy:
/// the client address is the unit, so behind a proxy set trusted proxies).
pub async fn client_budgets_group_ipv6_and_hold_per_address(store: Arc<dyn AuthStore>) {
    let env = limited_env(
        store,
        AuthLimits {
            login_per_email_client: 1000,
            login_per_email: 1000,
            login_per_client: 60,
            ..AuthLimits::default()
        },
    );
    let s = env.register().await;
    for i in 1..=60 {
        let client = format!("2001:db8::{i:x}");
        assert_unauthorized(
            env.auth
                .login(&random_email(), PASSWORD, Some(&client))
                .await,
            "unknown email",
        );
    }
    assert_rate_limited(
        env.auth
            .login(&s.user.email, PASSWORD, Some("2001:db8::3d"))
            .await,
        "same /64",
    );
    env.auth
        .login(&s.user.email, PASSWORD, Some("2001:db8:0:1::1"))
        .await
        .expect("another /64 has its own budget");
    // Successful logins do not use the client's budget up.
    for _ in 0..70 {
        env.auth
            .login(&s.user.email, PASSWORD, Some("198.51.100.1"))
            .await
            .expect("successes are given back");
    }
}

/// M1.4: wrong passwords from one address lock that address out of the
/// account, not its owner at another; guesses spread over many addresses
/// meet the email's ceiling, and the owner's success does not wipe them.
pub async fn a_guesser_cannot_lock_the_owner_out(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store.clone());
    let s = env.register().await;
    let email = s.user.email.as_str();
    let strict = env.auth.settings().limits.login_per_email_client;
    for _ in 0..strict {
        assert_unauthorized(
            env.auth
                .login(email, OTHER_PASSWORD, Some("203.0.113.50"))
                .await,
            "guess",
        );
    }
    assert_rate_limited(
        env.auth.login(email, PASSWORD, Some("203.0.113.50")).await,
        "the guessing address, even with the right password",
    );
    env.auth
        .login(email, PASSWORD, Some("198.51.100.7"))
        .await
        .expect("the owner elsewhere is not locked out");

    // Spread over many addresses: the email's ceiling.
    let env = limited_env(
        store,
        AuthLimits {
            login_per_email_client: 2,
            login_per_email: 5,
            ..AuthLimits::default()
        },
    );
    let s = env.register().await;
    let email = s.user.email.as_str();
    for i in 1..=4 {
        assert_unauthorized(
            env.auth
                .login(email, OTHER_PASSWORD, Some(&format!("192.0.2.{i}")))
                .await,
            "spread guess",
        );
    }
    env.auth
        .login(email, PASSWORD, Some("198.51.100.7"))
        .await
        .expect("under the ceiling");
    assert_unauthorized(
        env.auth
            .login(email, OTHER_PASSWORD, Some("192.0.2.5"))
            .await,
        "fifth guess",
    );
    assert_rate_limited(
        env.auth.login(email, PASSWORD, Some("198.51.100.8")).await,
        "the ceiling holds the earlier guesses after the owner's success",
    );
}

/// M1.5 and M5: an email or password longer than any valid one is refused
/// before the limiter, the lookup and Argon2.
pub async fn oversized_login_input_is_refused_first(store: Arc<dyn AuthStore>) {
    let env = limited_env(
        store,
        AuthLimits {
            login_per_email_client: 1,
            ..AuthLimits::default()
        },
    );
    let s = env.register().await;
    let huge = format!("{}@example.com", "a".repeat(1 << 20));
    assert_validation(env.auth.login(&huge, PASSWORD, None).await, "email");
    let long = "x".repeat(300);
    for _ in 0..3 {
        assert_validation(env.auth.login(&s.user.email, &long, None).await, "password");
    }
    // None of that used the email's single attempt.
    env.login(&s.user.email).await;
}

/// M3.1: a key cannot mint a key that outlives it.
pub async fn api_key_cannot_outlive_its_creator(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let s = env.register().await;
    let user = env.auth.authenticate(&s.access_token).await.expect("auth");
    let hour = env.clock.now() + TimeDelta::hours(1);
    let (_, k1) = env
        .auth
        .create_api_key(
            &user,
            NewApiKey {
                name: "ci".into(),
                scopes: Some(vec![Scope::Read, Scope::Admin]),
                expires_at: Some(hour),
                ..NewApiKey::default()
            },
        )
        .await
        .expect("k1");
    let k1 = env.auth.authenticate(&k1).await.expect("k1 works");
    let (child, _) = env
        .auth
        .create_api_key(
            &k1,
            NewApiKey {
                name: "child".into(),
                ..NewApiKey::default()
            },
        )
        .await
        .expect("child");
    assert_eq!(
        child.expires_at,
        Some(hour),
        "inherits its creator's expiry"
    );
    match env
        .auth
        .create_api_key(
            &k1,
            NewApiKey {
                name: "forever".into(),
                expires_at: Some(hour + TimeDelta::days(365)),
                ..NewApiKey::default()
            },
        )
        .await
    {
        Err(Error::Forbidden(_)) => {}
        other => panic!("a later expiry must be refused, got {other:?}"),
    }
    let (sooner, _) = env
        .auth
        .create_api_key(
            &k1,
            NewApiKey {
                name: "sooner".into(),
                expires_at: Some(hour - TimeDelta::minutes(30)),
                ..NewApiKey::default()
            },
        )
        .await
        .expect("an earlier expiry is fine");
    assert!(sooner.expires_at < Some(hour));
}

/// M3.2: an admin key limited to some workspaces reaches only keys limited
/// to those workspaces, and cannot change the account itself.
pub async fn workspace_limited_key_reaches_only_its_keys(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let s = env.register().await;
    let user = env.auth.authenticate(&s.access_token).await.expect("auth");
    let (w1, w2) = (WorkspaceId::new(), WorkspaceId::new());
    let make = |name: &str, workspaces: Option<Vec<WorkspaceId>>| NewApiKey {
        name: name.into(),
        scopes: Some(vec![Scope::Read, Scope::Admin]),
        workspaces,
        expires_at: None,
    };
    let (all, _) = env
        .auth
        .create_api_key(&user, make("all", None))
        .await
        .expect("all");
    let (other, _) = env
        .auth
        .create_api_key(&user, make("w2", Some(vec![w2])))
        .await
        .expect("w2");
    let (mine, kw1) = env
        .auth
        .create_api_key(&user, make("w1", Some(vec![w1])))
        .await
        .expect("w1");
    let kw1 = env.auth.authenticate(&kw1).await.expect("w1 key works");
    let listed: Vec<_> = env
        .auth
        .list_api_keys(&kw1)
        .await
        .expect("list")
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, vec![mine.id], "only keys within w1");
    for victim in [all.id, other.id] {
        match env.auth.delete_api_key(&kw1, victim).await {
            Err(Error::NotFound { .. }) => {}
            other => panic!("deleting a key beyond w1: {other:?}"),
        }
    }
    assert_eq!(env.auth.list_api_keys(&user).await.expect("list").len(), 3);
    match env
        .auth
        .change_password(&kw1, PASSWORD, OTHER_PASSWORD)
        .await
    {
        Err(Error::Forbidden(_)) => {}
        other => panic!("a limited key changing the password: {other:?}"),
    }
    match env.auth.update_me(&kw1, "Mallory").await {
        Err(Error::Forbidden(_)) => {}
        other => panic!("a limited key renaming the user: {other:?}"),
    }
    env.auth
        .delete_api_key(&kw1, mine.id)
        .await
        .expect("its own");
}

/// M4.3: using a reset token, or changing the password, spends every other
/// outstanding reset token of the user.
pub async fn reset_tokens_die_with_a_reset_or_password_change(store: Arc<dyn AuthStore>) {
    let env = AuthEnv::new(store);
    let s = env.register().await;
    let email = s.user.email.clone();
    let request = || async {
        env.auth
            .request_password_reset(&email, None)
            .await
            .expect("request");
        env.auth.flush_background().await;
        env.mailer.last_token_for(&email).expect("mailed")
    };
    let t1 = request().await;
    let t2 = request().await;
    assert_ne!(t1, t2);
    env.auth
        .confirm_password_reset(&t1, OTHER_PASSWORD)
        .await
        .expect("first token works");
    assert_unauthorized(
        env.auth
            .confirm_password_reset(&t2, "a third password!")
            .await,
        "the other token",
    );
    let t3 = request().await;
    env.advance(TimeDelta::seconds(1));
    let session = env
        .auth
        .login(&email, OTHER_PASSWORD, None)
        .await
        .expect("login");
    let p = env
        .auth
        .authenticate(&session.access_token)
        .await
        .expect("auth");
    env.auth
        .change_password(&p, OTHER_PASSWORD, PASSWORD)
        .await
        .expect("change");
    assert_unauthorized(
        env.auth
            .confirm_password_reset(&t3, "a third password!")
            .await,
        "token after a password change",
    );
}

/// M4.1: reset requests are limited per email, known or not (the same
/// answer for both), and per client.
pub async fn reset_requests_are_throttled(store: Arc<dyn AuthStore>) {
    let env = limited_env(
        store,
        AuthLimits {
            reset_per_email: 3,
            reset_per_client: 5,
            ..AuthLimits::default()
        },
    );
    let s = env.register().await;
    let unknown = random_email();
    for email in [&s.user.email, &unknown] {
        for _ in 0..3 {
            env.auth
                .request_password_reset(email, None)
                .await
                .expect("within the limit");
        }
        assert_rate_limited(env.auth.request_password_reset(email, None).await, email);
    }
    env.auth.flush_background().await;
    assert_eq!(
        env.mailer.messages().len(),
        3,
        "only the allowed requests mail"
    );
    for _ in 0..5 {
        env.auth
            .request_password_reset(&random_email(), Some("203.0.113.9"))
            .await
            .expect("within the client's limit");
    }
    assert_rate_limited(
        env.auth
            .request_password_reset(&random_email(), Some("203.0.113.9"))
            .await,
        "client",
    );
    env.advance(TimeDelta::hours(1));
    env.auth
        .request_password_reset(&s.user.email, Some("203.0.113.9"))
        .await
        .expect("a new window");
}

/// M5: registrations are limited per client before any password is hashed.
pub async fn registrations_are_throttled_per_client(store: Arc<dyn AuthStore>) {
    let env = limited_env(
        store,
        AuthLimits {
            register_per_client: 3,
            ..AuthLimits::default()
        },
    );
    let new = || NewUser {
        email: random_email(),
        password: PASSWORD.into(),
        name: "Bulk".into(),
    };
    for _ in 0..3 {
        env.auth
            .register(new(), Some("198.51.100.7"))
            .await
            .expect("within the limit");
    }
    assert_rate_limited(
        env.auth.register(new(), Some("198.51.100.7")).await,
        "fourth registration",
    );
    env.auth
        .register(new(), Some("198.51.100.8"))
        .await
        .expect("another client");
}
