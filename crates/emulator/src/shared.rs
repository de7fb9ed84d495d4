//! The state every connection shares, below both the server and the routes.

use crate::config::EmulatorConfig;
use crate::journal::Journal;
use crate::kv::KvStore;

/// State every connection shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: EmulatorConfig,
    pub(crate) journal: Journal,
    pub(crate) kv: KvStore,
}
