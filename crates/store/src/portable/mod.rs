//! The SQL both backends share, and the [`crate::Store`] impl around it.
//!
//! Compiled once into each backend module (`sqlite`, `postgres`) with
//! `#[path = "../portable/mod.rs"] mod portable;`, so the SQL and the logic around it exist once
//! while every query is checked against a concrete sqlx database, with no generic bounds. The
//! including module provides:
//! - `Db`, its sqlx database, and `Connection`, that database's connection type;
//! - `Backend`, its public store type, with a `core: Core` field;
//! - `Notifier`, whose `notify` runs inside the transaction of every announced mutation.
//!
//! The SQL is portable: `$N` placeholders, integers, text and bytes only; the two migrations
//! create the same tables. Mutations run on a transaction that `Core` commits and announces.

// Each file is also loaded by the other backend's copy of this module: that is the point.
#[allow(clippy::duplicate_mod)]
mod audit;
#[allow(clippy::duplicate_mod)]
mod bindings;
#[allow(clippy::duplicate_mod)]
mod signing_keys;
#[allow(clippy::duplicate_mod)]
mod store_impl;
#[allow(clippy::duplicate_mod)]
mod tokens;

use super::{Backend, Connection, Db, Notifier};

pub(crate) use store_impl::{CHANGE_CAPACITY, Core};
