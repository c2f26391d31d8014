//! Conformance cases for the memory of verified credentials
//! ([`Auth::with_verified_cache`]): every revocation made through the
//! service takes effect at once even when the credential was just
//! remembered; revocations made elsewhere take effect after the time to
//! live, or at once when relayed with [`Auth::apply_revocation`]; and a
//! remembered key never lets a different secret in.
//!
//! Every case first presents the credential, so that the check under test
//! runs against a remembered entry, not the store.

use std::sync::Arc;

use chrono::TimeDelta;

use super::auth::{AuthEnv, OTHER_PASSWORD, PASSWORD, assert_unauthorized, fast_params};
use crate::auth::{Auth, AuthSettings, NewApiKey, Revocation, SecretKey};
use crate::clock::{Clock, ManualClock};
use crate::model::Timestamp;
use crate::principal::Principal;
use crate::store::AuthStore;

/// The time to live the cases use.
const TTL: TimeDelta = TimeDelta::seconds(2);

fn settings(secret: &SecretKey) -> AuthSettings {
    AuthSettings::new(secret.clone()).with_password_params(fast_params())
}

/// A service with the cache on.
fn cached_env(store: Arc<dyn AuthStore>) -> AuthEnv {
    let mut env = AuthEnv::new(store);
    env.auth = env.auth.clone().with_verified_cache(TTL);
    env
}

/// Two services on one store, secret and clock: two server instances.
fn two_instances(store: Arc<dyn AuthStore>) -> (AuthEnv, AuthEnv) {
    let secret = SecretKey::generate();
    let clock = Arc::new(ManualClock::new());
    let mut a = AuthEnv::on_clock(store.clone(), settings(&secret), clock.clone());
    let mut b = AuthEnv::on_clock(store, settings(&secret), clock);
    a.auth = a.auth.clone().with_verified_cache(TTL);
    b.auth = b.auth.clone().with_verified_cache(TTL);
    (a, b)
}

async fn new_key(auth: &Auth, p: &Principal, expires_at: Option<Timestamp>) -> String {
    auth.create_api_key(
        p,
        NewApiKey {
            name: "cached".into(),
            expires_at,
            ..NewApiKey::default()
        },
    )
    .await
    .expect("create key")
    .1
}

/// Deleting a remembered key stops it at once.
pub async fn cached_key_dies_with_its_deletion(store: Arc<dyn AuthStore>) {
    let env = cached_env(store);
    let s = env.register().await;
    let p = env.auth.authenticate(&s.access_token).await.expect("auth");
    let secret = new_key(&env.auth, &p, None).await;
    let kp = env.auth.authenticate(&secret).await.expect("key");
    env.auth
        .authenticate(&secret)
        .await
        .expect("key, remembered");
    let Principal::ApiKey { id, .. } = kp else {
        panic!("a key gives a key principal: {kp:?}");
    };
    env.auth.delete_api_key(&p, id).await.expect("delete");
    assert_unauthorized(env.auth.authenticate(&secret).await, "deleted key");
}

/// Logout, refresh-token reuse, a password change and a password reset
/// each refuse remembered access tokens at once.
pub async fn cached_sessions_die_with_every_revocation(store: Arc<dyn AuthStore>) {
    let env = cached_env(store);
    // Logout.
    let a = env.register().await;
    env.auth.authenticate(&a.access_token).await.expect("auth");
    env.auth.logout(&a.refresh_token).await.expect("logout");
    assert_unauthorized(env.auth.authenticate(&a.access_token).await, "logout");

    // Reuse of a spent refresh token revokes the family.
    let b = env.register().await;
    let b2 = env.auth.refresh(&b.refresh_token).await.expect("refresh");
    env.auth.authenticate(&b2.access_token).await.expect("auth");
    assert_unauthorized(env.auth.refresh(&b.refresh_token).await, "reuse");
    assert_unauthorized(env.auth.authenticate(&b2.access_token).await, "reuse");

    // A password change cuts off every session, the remembered ones too.
    let c = env.register().await;
    let c2 = env.login(&c.user.email).await;
    let p = env.auth.authenticate(&c.access_token).await.expect("auth");
    env.auth.authenticate(&c2.access_token).await.expect("auth");
    env.auth
        .change_password(&p, PASSWORD, OTHER_PASSWORD)
        .await
        .expect("change");
    assert_unauthorized(env.auth.authenticate(&c.access_token).await, "change");
    assert_unauthorized(env.auth.authenticate(&c2.access_token).await, "change");
    env.advance(TimeDelta::milliseconds(1));
    let c3 = env
        .auth
        .login(&c.user.email, OTHER_PASSWORD, None)
        .await
        .expect("login");
    env.auth.authenticate(&c3.access_token).await.expect("new");

    // So does a password reset.
    let d = env.register().await;
    env.auth.authenticate(&d.access_token).await.expect("auth");
    env.auth
        .request_password_reset(&d.user.email, None)
        .await
        .expect("request");
    env.auth.flush_background().await;
    let token = env.mailer.last_token_for(&d.user.email).expect("mailed");
    env.auth
        .confirm_password_reset(&token, OTHER_PASSWORD)
        .await
        .expect("reset");
    assert_unauthorized(env.auth.authenticate(&d.access_token).await, "reset");
}

/// A remembered key lets in only the exact key: another secret with the
/// same prefix is checked against the store (and refused), and the key
/// still expires on time.
pub async fn cached_key_is_matched_whole_and_expires(store: Arc<dyn AuthStore>) {
    let env = cached_env(store);
    let s = env.register().await;
    let p = env.auth.authenticate(&s.access_token).await.expect("auth");
    let secret = new_key(&env.auth, &p, Some(env.clock.now() + TimeDelta::seconds(1))).await;
    env.auth.authenticate(&secret).await.expect("key");
    let mut forged = secret.clone();
    let last = if forged.ends_with('A') { "B" } else { "A" };
    forged.replace_range(forged.len() - 1.., last);
    assert_unauthorized(env.auth.authenticate(&forged).await, "same prefix");
    env.auth.authenticate(&secret).await.expect("still the key");
    env.advance(TimeDelta::seconds(1));
    assert_unauthorized(env.auth.authenticate(&secret).await, "expired");
}

/// A revocation made by another instance (or in the store directly) is
/// seen after at most the time to live, and at once when relayed; each
/// revocation made here is announced for relaying.
pub async fn revocations_elsewhere_hold_within_the_ttl(store: Arc<dyn AuthStore>) {
    let (one, two) = two_instances(store.clone());
    let mut announced = two.auth.revocations();
    let s = one.register().await;
    let p = one.auth.authenticate(&s.access_token).await.expect("auth");
    let secret = new_key(&one.auth, &p, None).await;
    let Principal::ApiKey { id, .. } = one.auth.authenticate(&secret).await.expect("key") else {
        panic!("a key principal");
    };

    // The other instance revokes the key: remembered here until the time
    // to live has passed.
    two.auth.delete_api_key(&p, id).await.expect("delete");
    assert_eq!(announced.try_recv().ok(), Some(Revocation::ApiKey(id)));
    one.auth
        .authenticate(&secret)
        .await
        .expect("within the ttl");
    one.advance(TTL);
    assert_unauthorized(one.auth.authenticate(&secret).await, "after the ttl");

    // Relayed, the other instance's logout holds here at once.
    one.auth.authenticate(&s.access_token).await.expect("auth");
    two.auth.logout(&s.refresh_token).await.expect("logout");
    let relayed = announced.try_recv().expect("announced");
    assert!(matches!(relayed, Revocation::Family(_)), "{relayed:?}");
    one.auth.apply_revocation(&relayed);
    assert_unauthorized(one.auth.authenticate(&s.access_token).await, "relayed");

    // A user deleted in the store directly: sessions and keys go after the
    // time to live, or at once with the user's revocation applied.
    let u = one.register().await;
    let up = one.auth.authenticate(&u.access_token).await.expect("auth");
    let ukey = new_key(&one.auth, &up, None).await;
    one.auth.authenticate(&ukey).await.expect("key");
    store.delete_user(u.user.id).await.expect("delete user");
    one.auth
        .authenticate(&u.access_token)
        .await
        .expect("within the ttl");
    one.auth.apply_revocation(&Revocation::User(u.user.id));
    assert_unauthorized(one.auth.authenticate(&u.access_token).await, "user gone");
    assert_unauthorized(one.auth.authenticate(&ukey).await, "user gone");
}
