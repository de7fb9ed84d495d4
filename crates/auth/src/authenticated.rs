//! What a request that passed authentication carries: its token's claims and its binding's
//! credential.
//!
//! A module of its own, below both the authenticator that builds it and the scope table that
//! reads it, so neither has to import the other for it.

use std::sync::Arc;

use crate::{Claims, Credential};

/// A request that passed authentication: its token's claims and its binding's credential.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// Verified claims.
    pub claims: Arc<Claims>,
    /// The binding the token names, current as of the credential cache.
    pub credential: Arc<Credential>,
}
