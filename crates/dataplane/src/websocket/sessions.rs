//! The sessions a replica holds open: admission against the per-organization and replica
//! caps, the tasks that run them (owned here, so the drain can wait for them) and the signal
//! that tells them to go away. Touched when a session starts and ends, never per byte.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use moka::ops::compute::{CompResult, Op};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use crate::error::SessionLimit;
use crate::settings::WebSocketSettings;

/// What the sessions are told to do, in escalating order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stop {
    /// Carry on.
    Serving,
    /// Close with `1001` (the drain began).
    GoAway,
    /// End now (the drain's grace ran out).
    Cut,
}

/// The open sessions of one proxy.
#[derive(Debug)]
pub(crate) struct Sessions {
    max_per_org: usize,
    max: usize,
    tasks: TaskTracker,
    /// Open sessions per organization; an organization without one has no entry. Unbounded
    /// and without expiry: an entry lives exactly as long as its organization's sessions
    /// (at most `max` of them), each change an atomic compute on its key.
    by_org: moka::sync::Cache<String, usize>,
    open: AtomicUsize,
    stop: watch::Sender<Stop>,
}

/// A session's place under the caps, from the handshake's admission to the session's end.
#[derive(Debug)]
pub(crate) struct Admission {
    sessions: Arc<Sessions>,
    org: String,
}

impl Sessions {
    pub(crate) fn new(settings: &WebSocketSettings) -> Self {
        Self {
            max_per_org: settings.max_sessions_per_org,
            max: settings.max_sessions,
            tasks: TaskTracker::new(),
            by_org: moka::sync::Cache::builder().build(),
            open: AtomicUsize::new(0),
            stop: watch::Sender::new(Stop::Serving),
        }
    }

    /// Takes a place for a session of `org`.
    ///
    /// # Errors
    /// [`SessionLimit`] when the organization or the replica is at its cap.
    pub(crate) fn admit(self: &Arc<Self>, org: &str) -> Result<Admission, SessionLimit> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.max).then_some(open + 1)
            })
            .map_err(|_| SessionLimit::Replica(self.max))?;
        let max_per_org = self.max_per_org;
        let counted = self.by_org.entry_by_ref(org).and_compute_with(|entry| {
            match entry.map(|entry| entry.into_value()) {
                Some(open) if open >= max_per_org => Op::Nop,
                Some(open) => Op::Put(open + 1),
                None => Op::Put(1),
            }
        });
        match counted {
            CompResult::Inserted(_) | CompResult::ReplacedWith(_) => Ok(Admission {
                sessions: Arc::clone(self),
                org: org.to_owned(),
            }),
            CompResult::Unchanged(_) | CompResult::StillNone(_) | CompResult::Removed(_) => {
                self.open.fetch_sub(1, Ordering::AcqRel);
                Err(SessionLimit::Organization(max_per_org))
            }
        }
    }

    /// Runs a session on a task of its own, owned here.
    pub(crate) fn spawn(&self, session: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(session);
    }

    /// The stop signal, for a session to watch.
    pub(crate) fn stop_signal(&self) -> watch::Receiver<Stop> {
        self.stop.subscribe()
    }

    /// Tells every session to close with `1001` (going away).
    pub(crate) fn go_away(&self) {
        self.stop
            .send_if_modified(|stop| escalate(stop, Stop::GoAway));
    }

    /// Tells every session to end now.
    pub(crate) fn cut(&self) {
        self.stop.send_if_modified(|stop| escalate(stop, Stop::Cut));
    }

    /// Resolves once every session task has ended; no session starts afterwards.
    pub(crate) async fn ended(&self) {
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// Whether the sessions were told to stop (the drain began): no new one should start.
    pub(crate) fn stopping(&self) -> bool {
        *self.stop.borrow() != Stop::Serving
    }

    /// Sessions open now (admitted and not yet ended).
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }
}

fn escalate(stop: &mut Stop, to: Stop) -> bool {
    if *stop < to {
        *stop = to;
        true
    } else {
        false
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.sessions
            .by_org
            .entry_by_ref(self.org.as_str())
            .and_compute_with(|entry| match entry.map(|entry| entry.into_value()) {
                Some(open) if open > 1 => Op::Put(open - 1),
                Some(_) | None => Op::Remove,
            });
        self.sessions.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(per_org: usize, max: usize) -> Arc<Sessions> {
        Arc::new(Sessions::new(&WebSocketSettings {
            max_sessions_per_org: per_org,
            max_sessions: max,
            ..WebSocketSettings::default()
        }))
    }

    #[test]
    fn an_organization_at_its_cap_does_not_take_another_organizations_place() {
        let sessions = sessions(2, 3);
        let a1 = sessions.admit("a").expect("first");
        let _a2 = sessions.admit("a").expect("second");
        assert_eq!(
            sessions.admit("a").map(drop),
            Err(SessionLimit::Organization(2))
        );
        let _b1 = sessions.admit("b").expect("another organization");
        assert_eq!(sessions.admit("c").map(drop), Err(SessionLimit::Replica(3)));
        drop(a1);
        assert_eq!(sessions.open(), 2);
        let _a3 = sessions.admit("a").expect("a place freed");
    }

    #[test]
    fn places_are_given_back_and_organizations_forgotten() {
        let sessions = sessions(1, 10);
        drop(sessions.admit("a").expect("admitted"));
        assert_eq!(sessions.open(), 0);
        sessions.by_org.run_pending_tasks();
        assert_eq!(sessions.by_org.entry_count(), 0);
    }

    #[test]
    fn the_stop_signal_only_escalates() {
        let sessions = sessions(1, 1);
        let signal = sessions.stop_signal();
        sessions.cut();
        sessions.go_away();
        assert_eq!(*signal.borrow(), Stop::Cut);
    }
}
