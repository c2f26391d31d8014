//! The webhook delivery worker: POSTs each event of the change log to the
//! webhooks that want it, signed, in seq order, at least once.
//!
//! State lives in the database ([`pybase_core::store::WebhooksStore`]): a
//! webhook's cursor (the last event it is done with), its failed attempts
//! at the next event and when the next attempt is due. An instance
//! delivers a webhook only while it holds the webhook's lease, so with
//! several instances each event is delivered by one of them; a crash
//! leaves the cursor at the last acknowledged event, and the lease expires,
//! so another instance (or the restarted one) delivers the rest.
//!
//! Failures (anything but a 2xx, a timeout, a refused connection, an
//! address that is not allowed) are retried after 1 s, doubling up to 1 h,
//! with jitter, until `WEBHOOK_MAX_ATTEMPTS`; then the webhook is disabled
//! with the reason.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use pybase_core::Pybase;
use pybase_core::facade::{forbidden_address, signature};
use pybase_core::ids::WebhookId;
use pybase_core::store::{ChangeEvent, Delivery, Progress, Webhook};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

mod ping;

/// How long an instance holds a webhook while delivering.
const LEASE: TimeDelta = TimeDelta::seconds(60);
/// How often the worker looks for due webhooks without a wake-up.
const POLL: Duration = Duration::from_secs(1);
/// How long after a retry's time the worker claims it (stored times are
/// to the millisecond).
const DUE_MARGIN: Duration = Duration::from_millis(5);
/// Webhooks taken at once.
const CLAIM: usize = 16;
/// The least time between two claims woken by commits: commits arriving
/// closer together share one claim (each claim is a write transaction, so
/// without this every record write cost a second one, webhooks or not).
const COMMIT_GAP: Duration = Duration::from_millis(25);
/// Events read from the log at once.
const BATCH: usize = 100;
/// The longest wait between attempts.
const MAX_DELAY: Duration = Duration::from_secs(3600);
/// How long a receiver may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopping worker lets its deliveries under way finish before
/// it ends them and gives back its leases.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);

/// What the worker needs from the settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Attempts at one event before the webhook is disabled.
    pub max_attempts: i32,
    /// Whether private, loopback and link-local targets are allowed.
    pub allow_private: bool,
    /// The first retry delay (doubling from there).
    pub first_delay: Duration,
}

/// The retry of a failed attempt: when the next one is due, or why the
/// webhook is disabled after `attempt` failures.
fn retry(
    config: &WebhookConfig,
    attempt: i32,
    at: chrono::DateTime<chrono::Utc>,
    what: &str,
    error: Option<&str>,
) -> (Option<chrono::DateTime<chrono::Utc>>, Option<String>) {
    if attempt >= config.max_attempts {
        return (
            None,
            Some(format!(
                "disabled after {attempt} failed attempts at {what}: {}",
                error.unwrap_or_default()
            )),
        );
    }
    let next = at
        + TimeDelta::from_std(backoff(config.first_delay, attempt)).unwrap_or(TimeDelta::hours(1));
    (Some(next), None)
}

/// The delay before attempt `attempt + 1` after `attempt` failures:
/// `first` doubling up to `MAX_DELAY` (one hour), with up to 25% jitter either way.
pub fn backoff(first: Duration, attempt: i32) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 31)).unwrap_or(31);
    let base = first
        .checked_mul(1_u32 << exp.min(31))
        .unwrap_or(MAX_DELAY)
        .min(MAX_DELAY);
    let jitter = 0.75 + rand::random::<f64>() * 0.5;
    base.mul_f64(jitter)
}

/// Resolves names and refuses those with an address webhooks may not use
/// (checked after resolution, so a public name pointing inside is refused).
#[derive(Debug, Clone, Copy)]
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow && found.iter().any(|a| forbidden_address(a.ip())) {
                return Err(format!(
                    "{host} resolves to a private, loopback or link-local address"
                )
                .into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

/// Starts the worker; it ends when the server that started it is gone, or
/// once `closing` turns true: then it claims nothing more, lets the
/// deliveries under way finish for up to 5 s (`STOP_GRACE`), ends the others
/// (a receiver may get that event again, as at-least-once allows) and
/// gives back its leases, so another instance, or this server restarted,
/// delivers at once rather than when the leases expire. The handle ends
/// with it.
pub fn spawn(
    pybase: &Arc<Pybase>,
    config: WebhookConfig,
    closing: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .dns_resolver(Arc::new(GuardedResolver {
            allow_private: config.allow_private,
        }))
        .user_agent("PyBase-Webhooks/1")
        .build()?;
    let owner = format!("{:016x}", rand::random::<u64>());
    let wake = pybase.local_changes();
    let remote = pybase.remote_changes().listen();
    Ok(tokio::spawn(run(
        Arc::downgrade(pybase),
        client,
        config,
        owner,
        Wakes {
            local: wake,
            remote,
            closing,
        },
    )))
}

/// What wakes the worker besides its own deliveries: commits on this
/// instance and on others, and the server closing.
struct Wakes {
    local: tokio::sync::broadcast::Receiver<pybase_core::store::Committed>,
    remote: tokio::sync::broadcast::Receiver<pybase_core::store::Committed>,
    closing: tokio::sync::watch::Receiver<bool>,
}

/// Claims due webhooks and delivers each in a task of its own, so a slow
/// or silent receiver (up to [`TIMEOUT`] per attempt, with a backlog)
/// delays only its own webhook, never the others on this instance; at most
/// [`CLAIM`] deliveries run at once.
async fn run(
    pybase: Weak<Pybase>,
    client: reqwest::Client,
    config: WebhookConfig,
    owner: String,
    mut wakes: Wakes,
) {
    let mut running: tokio::task::JoinSet<Retry> = tokio::task::JoinSet::new();
    // The webhook each running delivery task serves.
    let mut busy: HashMap<tokio::task::Id, WebhookId> = HashMap::new();
    let mut claimed_at = tokio::time::Instant::now();
    // The retries this instance's tasks scheduled and that have not
    // fallen due yet: the worker wakes for each instead of waiting for its
    // poll.
    let mut due = Retries::default();
    loop {
        if *wakes.closing.borrow() {
            stop(&pybase, &owner, running).await;
            return;
        }
        while let Some(done) = running.try_join_next_with_id() {
            due.add(finished(&mut busy, done));
        }
        due.forget_past();
        let Some(pb) = pybase.upgrade() else { return };
        let room = CLAIM.saturating_sub(busy.len());
        if room > 0 {
            claimed_at = tokio::time::Instant::now();
            match pb.claim_webhooks(&owner, LEASE, room).await {
                Ok(claimed) => {
                    for webhook in claimed {
                        // Still being delivered by this instance's task.
                        if busy.values().any(|id| *id == webhook.id) {
                            continue;
                        }
                        let id = webhook.id;
                        let (pb, client, config, owner) =
                            (pb.clone(), client.clone(), config.clone(), owner.clone());
                        let task = running.spawn(async move {
                            deliver(&pb, &client, &config, &owner, webhook).await
                        });
                        busy.insert(task.id(), id);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "webhooks: could not claim"),
            }
        }
        drop(pb);
        // A commit wakes the worker early, and so does a delivery ending;
        // otherwise it polls (retries fall due, other instances' leases
        // expire).
        let wake = due.next_wake();
        let committed = tokio::select! {
            _ = wakes.local.recv() => true,
            _ = wakes.remote.recv() => true,
            _ = wakes.closing.changed() => false,
            Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                due.add(finished(&mut busy, done));
                false
            }
            () = tokio::time::sleep_until(wake) => false,
        };
        if committed {
            // Let a burst of commits gather, then take them all at once.
            tokio::time::sleep_until(claimed_at + COMMIT_GAP).await;
            drain(&mut wakes.local);
            drain(&mut wakes.remote);
        }
    }
}

/// Ends the worker: the deliveries under way get [`STOP_GRACE`] to finish
/// (each saves its progress), the rest are ended, and every lease of
/// `owner` is given back. The server is held meanwhile (the worker only
/// holds it weakly, and the server's state goes once its requests end).
async fn stop(pybase: &Weak<Pybase>, owner: &str, mut running: tokio::task::JoinSet<Retry>) {
    let pb = pybase.upgrade();
    let grace = tokio::time::sleep(STOP_GRACE);
    tokio::pin!(grace);
    while !running.is_empty() {
        tokio::select! {
            _ = running.join_next() => {}
            () = &mut grace => break,
        }
    }
    running.shutdown().await;
    let Some(pb) = pb else { return };
    if let Err(e) = pb.release_webhooks(owner).await {
        tracing::warn!(error = %e, "webhooks: could not give back the leases; they expire");
    }
}

/// Takes every announcement waiting in `rx` (the claim that follows covers
/// them all); a lagging receiver has skipped some, which is the same.
fn drain(rx: &mut tokio::sync::broadcast::Receiver<pybase_core::store::Committed>) {
    use tokio::sync::broadcast::error::TryRecvError;
    loop {
        match rx.try_recv() {
            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
            Err(TryRecvError::Empty | TryRecvError::Closed) => return,
        }
    }
}

/// Forgets a delivery task that ended, giving the retry it scheduled; a
/// failed one is logged (its lease expires and the webhook is claimed
/// again).
fn finished(
    busy: &mut HashMap<tokio::task::Id, WebhookId>,
    done: Result<(tokio::task::Id, Retry), tokio::task::JoinError>,
) -> Retry {
    let (task, retry) = match done {
        Ok(ended) => ended,
        Err(e) => {
            tracing::error!(error = %e, webhook = ?busy.get(&e.id()), "webhooks: a delivery task failed");
            (e.id(), None)
        }
    };
    busy.remove(&task);
    retry
}

/// The times at which retries scheduled by this instance's delivery tasks
/// fall due, soonest first.
#[derive(Default)]
struct Retries(std::collections::BinaryHeap<std::cmp::Reverse<tokio::time::Instant>>);

impl Retries {
    /// Adds `retry` (a time on the wall clock, turned into the runtime's
    /// clock, plus [`DUE_MARGIN`] so the claim finds it due).
    fn add(&mut self, retry: Retry) {
        let Some(at) = retry else { return };
        let wait = (at - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO);
        self.0.push(std::cmp::Reverse(
            tokio::time::Instant::now() + wait + DUE_MARGIN,
        ));
    }

    /// Drops the times that have come (the claim about to run takes them).
    fn forget_past(&mut self) {
        let now = tokio::time::Instant::now();
        while self.0.peek().is_some_and(|t| t.0 <= now) {
            self.0.pop();
        }
    }

    /// When the worker wakes without a commit: the soonest retry, or the
    /// next poll if that comes first.
    fn next_wake(&self) -> tokio::time::Instant {
        let poll = tokio::time::Instant::now() + POLL;
        self.0.peek().map_or(poll, |t| t.0.min(poll))
    }
}

/// The literal address of a URL's host, if it is one.
pub(crate) fn literal_ip(url: &str) -> Option<IpAddr> {
    match url::Url::parse(url).ok()?.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// What went wrong with a request that got no answer: the error and its
/// sources (refused, timed out, a refused address).
fn failure(e: &reqwest::Error) -> String {
    let mut why = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        why = format!("{why}: {s}");
        source = s.source();
    }
    why
}

/// One POST of `event` to `webhook`: the status, or what went wrong.
async fn post(
    pb: &Pybase,
    client: &reqwest::Client,
    config: &WebhookConfig,
    webhook: &Webhook,
    event: &ChangeEvent,
) -> (Option<u16>, Option<String>) {
    if !config.allow_private && literal_ip(&webhook.url).is_some_and(forbidden_address) {
        return (
            None,
            Some("the URL's address is private, loopback or link-local".into()),
        );
    }
    let secret = match pb.webhook_secret(webhook) {
        Ok(s) => s,
        Err(e) => return (None, Some(format!("cannot sign: {e}"))),
    };
    let body = match serde_json::to_vec(event) {
        Ok(b) => b,
        Err(e) => return (None, Some(format!("cannot encode the event: {e}"))),
    };
    let ts = chrono::Utc::now().timestamp();
    let sent = client
        .post(&webhook.url)
        .header("content-type", "application/json")
        .header("pybase-webhook-id", webhook.id.as_str())
        .header("pybase-event-id", event.seq.to_string())
        .header("pybase-timestamp", ts.to_string())
        .header("pybase-signature", signature(&secret, ts, &body))
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
        Ok(r) => {
            let status = r.status();
            let why = if status.is_redirection() {
                format!("answered {status} (redirects are not followed)")
            } else {
                format!("answered {status}")
            };
            (Some(status.as_u16()), Some(why))
        }
        Err(e) => (None, Some(failure(&e))),
    }
}

/// When a delivery task scheduled its webhook's next attempt (after a
/// failure), so the worker wakes then rather than at its next poll.
type Retry = Option<chrono::DateTime<chrono::Utc>>;

/// Delivers the events due to one claimed webhook, saving progress after
/// each; stops at a failure (scheduling the retry, which it returns), when
/// the log is read to its end, or when the lease is lost.
async fn deliver(
    pb: &Pybase,
    client: &reqwest::Client,
    config: &WebhookConfig,
    owner: &str,
    webhook: Webhook,
) -> Retry {
    // A webhook acts with its creator's access: without it, it stops.
    match pb.webhook_creator_lost_access(&webhook).await {
        Ok(None) => {}
        Ok(Some(why)) => {
            let stop = Progress {
                cursor: webhook.cursor,
                attempt: webhook.attempt,
                next_attempt_at: None,
                disable: Some(why),
                delivery: None,
                release: true,
            };
            if let Err(e) = pb.save_webhook_progress(owner, webhook.id, &stop).await {
                tracing::warn!(webhook = %webhook.id, error = %e, "webhooks: could not disable");
            }
            return None;
        }
        Err(e) => {
            tracing::warn!(webhook = %webhook.id, error = %e, "webhooks: could not check the creator's role");
            return None;
        }
    }
    if webhook.airtable.is_some() {
        ping::deliver(pb, client, config, owner, webhook).await;
        return None;
    }
    let mut cursor = webhook.cursor;
    let mut attempt = webhook.attempt;
    let save = |progress: Progress| async move {
        match pb.save_webhook_progress(owner, webhook.id, &progress).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(webhook = %webhook.id, error = %e, "webhooks: could not save progress");
                false
            }
        }
    };
    let started = Instant::now();
    // Whether the webhook's table was checked once the log was read to its
    // end, and why it stops if the table is gone (the log is then read once
    // more).
    let mut table_checked = false;
    let mut stop: Option<String> = None;
    loop {
        let page = match pb.webhook_events(&webhook, cursor, BATCH).await {
            Ok(p) => p,
            Err(pybase_core::Error::Gone(why)) => {
                save(Progress {
                    cursor,
                    attempt,
                    next_attempt_at: None,
                    disable: Some(format!(
                        "its next events were pruned before delivery: {why}"
                    )),
                    delivery: None,
                    release: true,
                })
                .await;
                return None;
            }
            Err(e) => {
                tracing::warn!(webhook = %webhook.id, error = %e, "webhooks: could not read the log");
                return None;
            }
        };
        if page.events.is_empty() {
            if !table_checked {
                table_checked = true;
                match pb.webhook_table_gone(&webhook).await {
                    Ok(Some(why)) => {
                        // Deleted before this check: its event is in the
                        // log by now, and is delivered before the stop.
                        stop = Some(why);
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(webhook = %webhook.id, error = %e, "webhooks: could not check the table");
                    }
                }
            }
            save(Progress {
                cursor,
                attempt,
                next_attempt_at: None,
                disable: stop,
                delivery: None,
                release: true,
            })
            .await;
            return None;
        }
        for event in &page.events {
            if !webhook.wants(event.kind, event.table_id) {
                cursor = event.seq;
                continue;
            }
            // The attempt is logged at its start; a retry is scheduled
            // from its end (a timeout takes up to TIMEOUT).
            let at = chrono::Utc::now();
            let t0 = Instant::now();
            let (status, error) = post(pb, client, config, &webhook, event).await;
            let duration_ms = i64::try_from(t0.elapsed().as_millis()).unwrap_or(i64::MAX);
            attempt += 1;
            let ended = chrono::Utc::now();
            if error.is_none() {
                cursor = event.seq;
                let held = save(Progress {
                    cursor,
                    attempt: 0,
                    next_attempt_at: None,
                    disable: None,
                    delivery: Some(Delivery {
                        id: 0,
                        event_seq: event.seq,
                        attempt,
                        at,
                        status_code: status,
                        error: None,
                        duration_ms,
                        next_retry_at: None,
                    }),
                    release: false,
                })
                .await;
                attempt = 0;
                // Give the lease back well before it expires.
                if !held || started.elapsed() > Duration::from_secs(30) {
                    if held {
                        save(Progress {
                            cursor,
                            attempt,
                            next_attempt_at: None,
                            disable: None,
                            delivery: None,
                            release: true,
                        })
                        .await;
                    }
                    return None;
                }
                continue;
            }
            let (next, disable) = retry(
                config,
                attempt,
                ended,
                &format!("event {}", event.seq),
                error.as_deref(),
            );
            save(Progress {
                cursor,
                attempt,
                next_attempt_at: next,
                disable,
                delivery: Some(Delivery {
                    id: 0,
                    event_seq: event.seq,
                    attempt,
                    at,
                    status_code: status,
                    error,
                    duration_ms,
                    next_retry_at: next,
                }),
                release: true,
            })
            .await;
            return next;
        }
        // Events skipped by the filter up to here are done with.
        if !save(Progress {
            cursor,
            attempt,
            next_attempt_at: None,
            disable: None,
            delivery: None,
            release: false,
        })
        .await
        {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worker wakes for each retry its tasks scheduled, soonest first,
    /// and polls when none comes sooner.
    #[tokio::test]
    async fn the_worker_wakes_for_each_retry() {
        let now = chrono::Utc::now();
        let until = |due: &Retries| due.next_wake() - tokio::time::Instant::now();
        let mut due = Retries::default();
        due.add(None);
        assert!(until(&due) > POLL - Duration::from_millis(100));
        due.add(Some(now + TimeDelta::seconds(5)));
        due.add(Some(now + TimeDelta::milliseconds(300)));
        due.add(Some(now + TimeDelta::seconds(30)));
        assert!(until(&due) <= Duration::from_millis(300) + DUE_MARGIN);
        tokio::time::sleep_until(due.next_wake()).await;
        due.forget_past();
        // The two later ones are kept; the poll comes before either.
        assert_eq!(due.0.len(), 2);
        let next = due.0.peek().unwrap().0 - tokio::time::Instant::now();
        assert!(next <= Duration::from_secs(5) + DUE_MARGIN, "{next:?}");
        assert!(until(&due) > POLL - Duration::from_millis(100));
        // A time already past is due now.
        due.add(Some(now - TimeDelta::seconds(1)));
        assert!(until(&due) <= DUE_MARGIN);
    }

    #[test]
    fn backoff_doubles_from_the_first_delay_up_to_an_hour_with_jitter() {
        let first = Duration::from_secs(1);
        for (attempt, base) in [(1, 1.0), (2, 2.0), (3, 4.0), (13, 3600.0), (40, 3600.0)] {
            let d = backoff(first, attempt).as_secs_f64();
            assert!(d >= base * 0.75 && d <= base * 1.25, "{attempt}: {d}");
        }
    }
}
