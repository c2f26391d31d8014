//! The clauses of [`crate::store::AuthStore`]: users, refresh tokens,
//! password resets and API keys.

use std::sync::Arc;

use chrono::TimeDelta;

use super::build::{now, user};
use super::{assert_conflict, assert_not_found};
use crate::ids::{ApiKeyId, UserId, WorkspaceId};
use crate::model::{ApiKey, User};
use crate::role::Scope;
use crate::store::{PasswordReset, RefreshToken, RotateOutcome, SessionState, Store, StoredApiKey};
use crate::testkit::fixture::tag;

/// A first refresh token of a new family of `user`.
fn token(user: UserId) -> RefreshToken {
    let t = now();
    let n = tag();
    RefreshToken {
        id: format!("jti-{n}"),
        family_id: format!("fam-{n}"),
        user_id: user,
        token_hash: format!("hash-{n}"),
        created_at: t,
        expires_at: t + TimeDelta::days(7),
        spent_at: None,
        revoked_at: None,
    }
}

/// The successor of `token` in its family.
fn successor(token: &RefreshToken) -> RefreshToken {
    let n = tag();
    RefreshToken {
        id: format!("jti-{n}"),
        token_hash: format!("hash-{n}"),
        spent_at: None,
        revoked_at: None,
        ..token.clone()
    }
}

/// An API key of `user` with a unique prefix.
fn api_key(user: UserId) -> StoredApiKey {
    StoredApiKey {
        key: ApiKey {
            id: ApiKeyId::new(),
            user_id: user,
            name: "ci".into(),
            prefix: format!("pbk_{}", tag()),
            scopes: vec![Scope::Read, Scope::Write],
            workspaces: Some(vec![WorkspaceId::new()]),
            created_at: now(),
            expires_at: None,
            last_used_at: None,
        },
        secret_hash: "secret-hash".into(),
    }
}

/// Every user method that documents `NotFound` answers it for an absent
/// user; `find_credentials` and `session_state` answer `None`.
pub async fn user_methods_answer_not_found_for_an_absent_user(store: Arc<dyn Store>) {
    let missing = UserId::new();
    let t = now();
    assert_not_found(store.get_user(missing).await);
    assert_not_found(store.get_credentials(missing).await);
    let ghost = User {
        id: missing,
        email: format!("ghost-{}@example.com", tag()),
        name: "Ghost".into(),
        created_at: t,
        updated_at: t,
    };
    assert_not_found(store.update_user(&ghost).await);
    assert_not_found(store.set_password_hash(missing, "h", t).await);
    assert_not_found(store.delete_user(missing).await);
    assert_not_found(store.revoke_user_tokens(missing, t).await);
    assert!(
        store
            .find_credentials(&ghost.email)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.session_state(missing, "any").await.unwrap(), None);
}

/// `create_user` refuses a taken email with `Conflict { field: "email" }`
/// and inserts nothing; what is stored is what was given.
pub async fn users_keep_what_they_are_given_and_emails_are_unique(store: Arc<dyn Store>) {
    let mut u = user(&*store, "ann").await;
    assert_eq!(store.get_user(u.id).await.unwrap(), u);
    let dup = User {
        id: UserId::new(),
        ..u.clone()
    };
    assert_conflict(store.create_user(&dup, "h").await, "user", "email");
    assert_not_found(store.get_user(dup.id).await);
    let creds = store.find_credentials(&u.email).await.unwrap().unwrap();
    assert_eq!(
        (creds.user, creds.password_hash),
        (u.clone(), "hash".into())
    );
    u.name = "Ann B".into();
    u.email = format!("ann-b-{}@example.com", tag());
    u.updated_at = now() + TimeDelta::seconds(1);
    store.update_user(&u).await.unwrap();
    assert_eq!(store.get_user(u.id).await.unwrap(), u);
    store.set_password_hash(u.id, "hash2", now()).await.unwrap();
    assert_eq!(
        store.get_credentials(u.id).await.unwrap().password_hash,
        "hash2"
    );
}

/// Two concurrent rotations of one refresh token: exactly one is
/// `Rotated`, every other sees `Reused` with the winner's spend, and only
/// the winner's successor can be continued.
pub async fn refresh_token_spend_race_has_exactly_one_winner(store: Arc<dyn Store>) {
    let u = user(&*store, "racer").await;
    for _ in 0..8 {
        let first = token(u.id);
        store.insert_refresh_token(&first).await.unwrap();
        let nexts: Vec<RefreshToken> = (0..4).map(|_| successor(&first)).collect();
        let t = now();
        let tries = nexts.iter().cloned().map(|next| {
            let store = store.clone();
            let hash = first.token_hash.clone();
            tokio::spawn(async move { store.rotate_refresh_token(&hash, t, &next).await })
        });
        let outcomes: Vec<RotateOutcome> = futures::future::join_all(tries)
            .await
            .into_iter()
            .map(|r| r.unwrap().unwrap())
            .collect();
        let winners: Vec<usize> = outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| matches!(o, RotateOutcome::Rotated(_)))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(winners.len(), 1, "{outcomes:?}");
        for (i, o) in outcomes.iter().enumerate() {
            match o {
                RotateOutcome::Rotated(old) | RotateOutcome::Reused(old) => {
                    assert_eq!(old.spent_at, Some(t), "{i}: {o:?}");
                }
                other => panic!("{i}: {other:?}"),
            }
        }
        for (i, next) in nexts.iter().enumerate() {
            let again = store
                .rotate_refresh_token(&next.token_hash, t, &successor(next))
                .await
                .unwrap();
            if i == winners[0] {
                assert!(matches!(again, RotateOutcome::Rotated(_)), "{again:?}");
            } else {
                assert_eq!(
                    again,
                    RotateOutcome::Unknown,
                    "a loser's successor is stored"
                );
            }
        }
    }
}

/// Rotation answers `Unknown` for an unknown hash, `Reused` for a spent or
/// revoked token, and `Refused` (changing nothing) for a token of a
/// revoked family, of a cut-off user, expired, or with a successor of
/// another family or user; revocations are idempotent and show in
/// `session_state`.
pub async fn refresh_rotation_refuses_what_may_not_continue(store: Arc<dyn Store>) {
    let u = user(&*store, "ann").await;
    let other = user(&*store, "bob").await;
    let t = now();
    assert_eq!(
        store
            .rotate_refresh_token("no-such-hash", t, &token(u.id))
            .await
            .unwrap(),
        RotateOutcome::Unknown
    );
    // A successor of another family, or of another user: refused, and the
    // token can still be rotated properly afterwards.
    let live = token(u.id);
    store.insert_refresh_token(&live).await.unwrap();
    let stray_family = RefreshToken {
        family_id: format!("fam-{}", tag()),
        ..successor(&live)
    };
    let stray_user = RefreshToken {
        user_id: other.id,
        ..successor(&live)
    };
    for stray in [stray_family, stray_user] {
        match store
            .rotate_refresh_token(&live.token_hash, t, &stray)
            .await
            .unwrap()
        {
            RotateOutcome::Refused(row) => assert_eq!(row.spent_at, None),
            o => panic!("{o:?}"),
        }
    }
    // Expired: refused.
    let old = RefreshToken {
        expires_at: t - TimeDelta::seconds(1),
        ..token(u.id)
    };
    store.insert_refresh_token(&old).await.unwrap();
    assert!(matches!(
        store
            .rotate_refresh_token(&old.token_hash, t, &successor(&old))
            .await
            .unwrap(),
        RotateOutcome::Refused(_)
    ));
    // A revoked family: its tokens are refused (revoked is not spent: a
    // logged-out token presented again is no replay), so is a token added
    // to it afterwards; revoking twice keeps the first time.
    assert_eq!(
        store.session_state(u.id, &live.family_id).await.unwrap(),
        Some(SessionState {
            tokens_valid_after: None,
            family_revoked: false
        })
    );
    store.revoke_token_family(&live.family_id, t).await.unwrap();
    store
        .revoke_token_family(&live.family_id, t + TimeDelta::seconds(1))
        .await
        .unwrap();
    match store
        .rotate_refresh_token(&live.token_hash, t, &successor(&live))
        .await
        .unwrap()
    {
        RotateOutcome::Refused(row) => assert_eq!(row.revoked_at, Some(t)),
        o => panic!("{o:?}"),
    }
    let late = successor(&live);
    store.insert_refresh_token(&late).await.unwrap();
    assert!(matches!(
        store
            .rotate_refresh_token(&late.token_hash, t, &successor(&late))
            .await
            .unwrap(),
        RotateOutcome::Refused(_)
    ));
    assert_eq!(
        store.session_state(u.id, &live.family_id).await.unwrap(),
        Some(SessionState {
            tokens_valid_after: None,
            family_revoked: true
        })
    );
    // A cut-off user: every token revoked, the cut-off never moves back.
    let fresh = token(u.id);
    store.insert_refresh_token(&fresh).await.unwrap();
    store.revoke_user_tokens(u.id, t).await.unwrap();
    store
        .revoke_user_tokens(u.id, t - TimeDelta::seconds(5))
        .await
        .unwrap();
    assert_eq!(
        store.session_state(u.id, &fresh.family_id).await.unwrap(),
        Some(SessionState {
            tokens_valid_after: Some(t),
            family_revoked: true
        })
    );
    assert!(matches!(
        store
            .rotate_refresh_token(&fresh.token_hash, t, &successor(&fresh))
            .await
            .unwrap(),
        RotateOutcome::Refused(_)
    ));
    // A token issued before the cut-off but inserted after it: refused.
    let before_cut = RefreshToken {
        created_at: t - TimeDelta::seconds(1),
        ..token(u.id)
    };
    store.insert_refresh_token(&before_cut).await.unwrap();
    assert!(matches!(
        store
            .rotate_refresh_token(&before_cut.token_hash, t, &successor(&before_cut))
            .await
            .unwrap(),
        RotateOutcome::Refused(_)
    ));
}

/// `revoke_user_tokens` spends every outstanding reset token of the user,
/// and no one else's.
pub async fn revoking_a_user_spends_their_reset_tokens(store: Arc<dyn Store>) {
    let u = user(&*store, "ann").await;
    let other = user(&*store, "bob").await;
    let t = now();
    let reset = |user: UserId| PasswordReset {
        token_hash: format!("reset-{}", tag()),
        user_id: user,
        created_at: t,
        expires_at: t + TimeDelta::hours(1),
        used_at: None,
    };
    let (mine, theirs) = (reset(u.id), reset(other.id));
    store.insert_password_reset(&mine).await.unwrap();
    store.insert_password_reset(&theirs).await.unwrap();
    store.revoke_user_tokens(u.id, t).await.unwrap();
    assert_eq!(
        store.use_password_reset(&mine.token_hash, t).await.unwrap(),
        None
    );
    let used = store
        .use_password_reset(&theirs.token_hash, t)
        .await
        .unwrap()
        .expect("another user's token is untouched");
    assert_eq!(used.used_at, Some(t));
    assert_eq!(used.user_id, other.id);
}

/// API keys: `Conflict { field: "prefix" }` on a taken prefix, a user's
/// keys oldest first, `delete_api_key` `NotFound` for another user's key,
/// `touch_api_key` recording the use.
pub async fn api_keys_prefix_conflict_order_and_owner(store: Arc<dyn Store>) {
    let u = user(&*store, "ann").await;
    let other = user(&*store, "bob").await;
    let first = api_key(u.id);
    store.create_api_key(&first).await.unwrap();
    let clash = StoredApiKey {
        key: ApiKey {
            id: ApiKeyId::new(),
            ..first.key.clone()
        },
        ..first.clone()
    };
    assert_conflict(store.create_api_key(&clash).await, "api_key", "prefix");
    let mut second = api_key(u.id);
    second.key.created_at = first.key.created_at + TimeDelta::seconds(1);
    store.create_api_key(&second).await.unwrap();
    assert_eq!(
        store.find_api_key(&first.key.prefix).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.find_api_key("pbk_none").await.unwrap(), None);
    let ids: Vec<ApiKeyId> = store
        .list_api_keys(u.id)
        .await
        .unwrap()
        .iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, vec![first.key.id, second.key.id]);
    let t = now();
    store.touch_api_key(first.key.id, t).await.unwrap();
    assert_eq!(
        store.list_api_keys(u.id).await.unwrap()[0].last_used_at,
        Some(t)
    );
    assert_not_found(store.delete_api_key(other.id, first.key.id).await);
    assert_not_found(store.delete_api_key(u.id, ApiKeyId::new()).await);
    store.delete_api_key(u.id, first.key.id).await.unwrap();
    assert_not_found(store.delete_api_key(u.id, first.key.id).await);
    assert_eq!(store.find_api_key(&first.key.prefix).await.unwrap(), None);
    assert_eq!(store.list_api_keys(u.id).await.unwrap().len(), 1);
}

/// `delete_user` takes the user's sessions, reset tokens and keys with
/// it, and nobody else's.
pub async fn deleting_a_user_removes_sessions_resets_and_keys(store: Arc<dyn Store>) {
    let u = user(&*store, "ann").await;
    let other = user(&*store, "bob").await;
    let t = now();
    let (mine, theirs) = (token(u.id), token(other.id));
    store.insert_refresh_token(&mine).await.unwrap();
    store.insert_refresh_token(&theirs).await.unwrap();
    let reset = PasswordReset {
        token_hash: format!("reset-{}", tag()),
        user_id: u.id,
        created_at: t,
        expires_at: t + TimeDelta::hours(1),
        used_at: None,
    };
    store.insert_password_reset(&reset).await.unwrap();
    let (key, their_key) = (api_key(u.id), api_key(other.id));
    store.create_api_key(&key).await.unwrap();
    store.create_api_key(&their_key).await.unwrap();
    store.delete_user(u.id).await.unwrap();
    assert_not_found(store.get_user(u.id).await);
    assert_eq!(
        store
            .rotate_refresh_token(&mine.token_hash, t, &successor(&mine))
            .await
            .unwrap(),
        RotateOutcome::Unknown
    );
    assert_eq!(
        store
            .use_password_reset(&reset.token_hash, t)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.find_api_key(&key.key.prefix).await.unwrap(), None);
    assert!(store.list_api_keys(u.id).await.unwrap().is_empty());
    assert_eq!(
        store.find_api_key(&their_key.key.prefix).await.unwrap(),
        Some(their_key)
    );
    assert!(matches!(
        store
            .rotate_refresh_token(&theirs.token_hash, t, &successor(&theirs))
            .await
            .unwrap(),
        RotateOutcome::Rotated(_)
    ));
}

/// A rotation racing a revocation (of the user, or of the family) either
/// happens first, and the revocation then revokes its successor, or is
/// refused: never a live successor in a revoked family (REVIEW-security
/// H1 at the store).
pub async fn rotation_racing_a_revocation_leaves_no_live_token(store: Arc<dyn Store>) {
    let u = user(&*store, "racer").await;
    for round in 0..40 {
        let first = token(u.id);
        store.insert_refresh_token(&first).await.unwrap();
        let next = successor(&first);
        let t = now();
        let cut = t + TimeDelta::milliseconds(1);
        let rotate = {
            let (store, first, next) = (store.clone(), first.clone(), next.clone());
            tokio::spawn(async move {
                store
                    .rotate_refresh_token(&first.token_hash, t, &next)
                    .await
            })
        };
        let revoke = {
            let (store, family) = (store.clone(), first.family_id.clone());
            tokio::spawn(async move {
                if round % 2 == 0 {
                    store.revoke_user_tokens(u.id, cut).await
                } else {
                    store.revoke_token_family(&family, cut).await
                }
            })
        };
        let (rotated, revoked) = tokio::join!(rotate, revoke);
        revoked.unwrap().unwrap();
        let outcome = rotated.unwrap().unwrap();
        // Rotated first, refused, or revoked before it started (`Reused`).
        assert!(
            !matches!(outcome, RotateOutcome::Unknown),
            "round {round}: {outcome:?}"
        );
        // Neither token can be continued now.
        for (name, tok) in [("first", &first), ("successor", &next)] {
            let again = store
                .rotate_refresh_token(&tok.token_hash, cut, &successor(tok))
                .await
                .unwrap();
            assert!(
                !matches!(again, RotateOutcome::Rotated(_)),
                "round {round}: {outcome:?} left the {name} live: {again:?}"
            );
        }
        let state = store
            .session_state(u.id, &first.family_id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            state.family_revoked || state.tokens_valid_after.is_some(),
            "round {round}: {state:?}"
        );
    }
}
