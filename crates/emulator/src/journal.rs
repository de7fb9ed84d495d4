//! The journal: every request the emulator received, in arrival order, bounded.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use http::{HeaderMap, Method, Version};

/// How many entries the journal keeps; older ones are dropped first.
pub(crate) const JOURNAL_CAPACITY: usize = 10_000;

/// Every request the emulator received, in arrival order; only the newest 10,000 are kept.
///
/// An entry is recorded when the request head arrives, before authentication, so refused
/// requests are journaled too. Clones share the same journal.
#[derive(Clone, Default)]
pub struct Journal {
    entries: Arc<RwLock<VecDeque<Arc<Recorded>>>>,
}

/// One request as the emulator received it.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    /// The request method.
    pub method: Method,
    /// The request target's path and query exactly as received: no decoding, no
    /// normalisation (`%2F` stays `%2F`). Empty for a target without a path (authority form).
    pub path_and_query: String,
    /// The request headers as received (for HTTP/2, without pseudo-headers).
    pub headers: HeaderMap,
    /// Request body bytes read so far. The emulator reads every body to its end before it
    /// finishes answering, so once the response is complete this is the full body length.
    pub body_bytes: u64,
    /// The HTTP version of the connection.
    pub version: Version,
    /// The client's address: requests on one kept-alive connection share it.
    pub peer: SocketAddr,
}

/// A journaled request whose body count grows while the body streams in.
#[derive(Debug)]
pub(crate) struct Recorded {
    method: Method,
    path_and_query: String,
    headers: HeaderMap,
    version: Version,
    peer: SocketAddr,
    body_bytes: AtomicU64,
}

impl Recorded {
    pub(crate) fn add_body_bytes(&self, count: u64) {
        self.body_bytes.fetch_add(count, Ordering::Relaxed);
    }

    fn snapshot(&self) -> JournalEntry {
        JournalEntry {
            method: self.method.clone(),
            path_and_query: self.path_and_query.clone(),
            headers: self.headers.clone(),
            body_bytes: self.body_bytes.load(Ordering::Relaxed),
            version: self.version,
            peer: self.peer,
        }
    }
}

impl Journal {
    /// Records a request head; the returned handle counts its body bytes.
    pub(crate) fn record(&self, parts: &http::request::Parts, peer: SocketAddr) -> Arc<Recorded> {
        let recorded = Arc::new(Recorded {
            method: parts.method.clone(),
            path_and_query: parts
                .uri
                .path_and_query()
                .map(|target| target.as_str().to_owned())
                .unwrap_or_default(),
            headers: parts.headers.clone(),
            version: parts.version,
            peer,
            body_bytes: AtomicU64::new(0),
        });
        // Never held across an await; a poisoned lock still holds a consistent deque.
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() == JOURNAL_CAPACITY {
            entries.pop_front();
        }
        entries.push_back(Arc::clone(&recorded));
        recorded
    }

    /// A snapshot of every entry, oldest first.
    pub fn entries(&self) -> Vec<JournalEntry> {
        self.read().iter().map(|entry| entry.snapshot()).collect()
    }

    /// How many entries the journal holds.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the journal holds no entries.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The most recent entry, if any.
    pub fn last(&self) -> Option<JournalEntry> {
        self.read().back().map(|entry| entry.snapshot())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, VecDeque<Arc<Recorded>>> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(target: &str) -> http::request::Parts {
        http::Request::get(target).body(()).unwrap().into_parts().0
    }

    #[test]
    fn keeps_only_the_newest_entries() {
        let journal = Journal::default();
        for i in 0..JOURNAL_CAPACITY + 5 {
            journal.record(&parts(&format!("/v2/{i}")), test_peer());
        }
        assert_eq!(journal.len(), JOURNAL_CAPACITY);
        assert_eq!(journal.entries()[0].path_and_query, "/v2/5");
        let last = journal.last().unwrap();
        assert_eq!(last.path_and_query, format!("/v2/{}", JOURNAL_CAPACITY + 4));
    }

    #[test]
    fn body_bytes_grow_after_recording() {
        let journal = Journal::default();
        let recorded = journal.record(&parts("/v2/a%20b?x=%2F"), test_peer());
        recorded.add_body_bytes(3);
        recorded.add_body_bytes(4);
        let entry = journal.last().unwrap();
        assert_eq!(entry.body_bytes, 7);
        assert_eq!(entry.path_and_query, "/v2/a%20b?x=%2F");
        journal.clear();
        assert!(journal.is_empty());
    }

    fn test_peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 40000))
    }
}
