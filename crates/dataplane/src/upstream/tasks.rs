//! The tasks the upstream client runs besides the requests' own: the sweeper that closes
//! expired idle connections, and for each HTTP/2 connection its driver and what hyper starts
//! for it (the connection's I/O, and a task per request and per upload on it).
//!
//! [`Tasks`] owns them all, through a `watch` channel: every task holds a receiver, so the
//! receiver count is the number of tasks still running and [`Tasks::ended`] resolves when the
//! last one has ended; the value, once `true`, tells them to stop. Starting a task adds two
//! atomic increments to Tokio's spawn: no lock and no allocation (hyper starts one per HTTP/2
//! request).

use std::future::Future;

use tokio::sync::watch;

/// Owner of the upstream client's tasks: starts them, stops them, waits for them.
#[derive(Debug)]
pub(super) struct Tasks {
    /// `true` once the tasks are told to stop; one receiver per running task.
    signal: watch::Sender<bool>,
}

impl Tasks {
    pub(super) fn new() -> Self {
        Self {
            signal: watch::Sender::new(false),
        }
    }

    /// Runs `task` on its own Tokio task until it ends or [`Tasks::stop`] is called; a task
    /// started after `stop` ends at once.
    pub(super) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut signal = self.signal.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                () = task => {}
                // An error: the owner itself is gone, which is a stop too.
                _ = signal.wait_for(|stop| *stop) => {}
            }
        });
    }

    /// An executor for hyper's HTTP/2 tasks. They are counted and waited for, not told to
    /// stop: each ends with its stream, and the connection's own when the driver (started
    /// with [`Tasks::spawn`]) and every handle on the connection are gone.
    pub(super) fn executor(&self) -> TaskExecutor {
        TaskExecutor {
            signal: self.signal.clone(),
        }
    }

    /// Tells every task to stop.
    pub(super) fn stop(&self) {
        self.signal.send_replace(true);
    }

    /// Whether the tasks were told to stop.
    pub(super) fn stopped(&self) -> bool {
        *self.signal.borrow()
    }

    /// Resolves once every task has ended.
    pub(super) async fn ended(&self) {
        self.signal.closed().await;
    }

    /// Tasks still running.
    pub(super) fn running(&self) -> usize {
        self.signal.receiver_count()
    }
}

/// Runs hyper's futures on Tokio, each as a task owned by [`Tasks`].
#[derive(Debug, Clone)]
pub(super) struct TaskExecutor {
    signal: watch::Sender<bool>,
}

impl<F> hyper::rt::Executor<F> for TaskExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, task: F) {
        let owner = self.signal.subscribe();
        tokio::spawn(async move {
            // Counted as running until the future ends or is dropped with the runtime.
            let _owner = owner;
            task.await;
        });
    }
}
