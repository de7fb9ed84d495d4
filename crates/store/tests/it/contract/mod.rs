//! The contract every [`store::Store`] backend honours, as async functions over a `StoreHandle`.
//!
//! A backend runs the whole suite with `run_contract_suite!(factory())`, where `factory()` is a
//! future yielding `Some((StoreHandle, guard))`: a fresh, empty store and the [`Fixture`] that
//! must live as long as it (a temporary directory, a throw-away schema), released after the
//! test. `None` skips the test: the backend is not available here, and the factory said why.
//! Each function is one `#[tokio::test]`.

pub(crate) mod audit;
pub(crate) mod bindings;
pub(crate) mod changes;
pub(crate) mod signing_keys;
pub(crate) mod tokens;

use store::{BindingUpdate, NewBinding, NewSigningKey, NewToken, RateLimit, Secret, Store};

/// The clock every contract test starts from (unix seconds).
pub(crate) const NOW: i64 = 1_750_000_000;

/// Expands to one `#[tokio::test]` per contract function, each on a fresh store.
macro_rules! run_contract_suite {
    ($factory:expr) => {
        $crate::contract::run_contract_suite!(@tests $factory;
            audit::append_audit_returns_the_event_with_increasing_ids,
            audit::list_audit_is_newest_first_and_filters_by_org,
            audit::list_audit_pages_with_before_id_and_limit,
            bindings::ping_answers,
            bindings::create_binding_starts_at_generation_one,
            bindings::create_binding_twice_for_one_org_is_binding_exists,
            bindings::binding_by_org_is_none_for_an_unknown_org,
            bindings::list_bindings_pages_in_org_id_order,
            bindings::update_binding_changes_only_the_given_fields,
            bindings::update_binding_replaces_the_key_and_its_hint,
            bindings::update_binding_of_an_unknown_org_is_binding_not_found,
            bindings::rotate_without_grace_ends_the_previous_generation_at_once,
            bindings::rotate_with_grace_keeps_the_previous_generation_until_the_deadline,
            bindings::rotate_of_an_unknown_org_is_binding_not_found,
            bindings::delete_binding_returns_it_and_removes_its_tokens,
            bindings::delete_of_an_unknown_org_is_binding_not_found,
            bindings::load_credential_round_trips_the_api_key,
            bindings::load_credential_of_an_unknown_binding_is_none,
            changes::binding_mutations_announce_the_binding,
            changes::signing_key_mutations_announce_signing_keys,
            changes::failed_or_read_only_calls_announce_nothing,
            changes::a_change_is_visible_when_it_is_announced,
            signing_keys::a_new_store_has_no_signing_key,
            signing_keys::inserting_a_signing_key_demotes_the_active_one,
            signing_keys::active_signing_key_round_trips_the_private_key,
            signing_keys::retire_moves_a_verify_only_key_to_retired,
            signing_keys::retire_of_the_active_key_is_signing_key_active,
            signing_keys::retire_of_an_unknown_key_is_signing_key_not_found,
            signing_keys::retire_of_a_retired_key_returns_it_unchanged,
            tokens::insert_token_records_every_field,
            tokens::insert_token_for_an_unknown_binding_is_binding_not_found,
            tokens::revoke_token_keeps_the_first_revocation_time,
            tokens::revoke_of_an_unknown_token_is_token_not_found,
            tokens::revoked_jtis_list_only_live_revoked_tokens_of_the_binding,
        );
    };
    (@tests $factory:expr; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some((store, fixture)) = $factory.await else {
                    return;
                };
                $crate::contract::$module::$name(store).await;
                $crate::contract::Fixture::release(fixture).await;
            }
        )*
    };
}
pub(crate) use run_contract_suite;

/// What a contract test's store needs around it, released when the test has passed (a failed
/// test leaves it behind for inspection).
pub(crate) trait Fixture {
    async fn release(self);
}

impl Fixture for () {
    async fn release(self) {}
}

impl Fixture for tempfile::TempDir {
    async fn release(self) {
        drop(self);
    }
}

/// A binding request for `org_id` with `api_key`, two scopes and no rate limit.
pub(crate) fn new_binding(org_id: &str, api_key: &str) -> NewBinding {
    NewBinding {
        org_id: org_id.to_owned(),
        api_key: Secret::from(api_key.to_owned()),
        scopes: vec!["messaging".to_owned(), "kv".to_owned()],
        rate_limit: None,
    }
}

/// A token of `binding_id` issued at [`NOW`], expiring at `expires_at`.
pub(crate) fn new_token(jti: &str, binding_id: &str, expires_at: i64) -> NewToken {
    NewToken {
        jti: jti.to_owned(),
        binding_id: binding_id.to_owned(),
        function_id: None,
        generation: 1,
        scopes: None,
        kid: "kid-1".to_owned(),
        issued_at: NOW,
        expires_at,
    }
}

/// An Ed25519-shaped signing key whose private bytes are every byte value.
pub(crate) fn new_signing_key(kid: &str) -> NewSigningKey {
    NewSigningKey {
        kid: kid.to_owned(),
        algorithm: "EdDSA".to_owned(),
        public_key: vec![7; 32],
        private_key_pkcs8: Secret::new((0..=255).collect()),
    }
}

/// A rate limit for tests.
pub(crate) fn rate_limit(requests_per_second: u32, burst: u32) -> RateLimit {
    RateLimit {
        requests_per_second,
        burst,
    }
}

/// Plaintexts that an at-rest test writes and then must not find in the database.
pub(crate) struct AtRestSecrets {
    /// The binding's first upstream key, replaced by `api_key`.
    pub(crate) replaced_key: &'static str,
    /// The binding's current upstream key.
    pub(crate) api_key: &'static str,
    /// The signing key's private half.
    pub(crate) private_key: &'static [u8],
}

impl AtRestSecrets {
    /// Writes every kind of secret column: binding `org-at-rest` (created with `replaced_key`,
    /// updated to `api_key`) and signing key `kid-at-rest`.
    pub(crate) async fn write(&self, store: &dyn Store) {
        store
            .create_binding(new_binding("org-at-rest", self.replaced_key), NOW)
            .await
            .expect("create");
        let update = BindingUpdate {
            api_key: Some(Secret::from(self.api_key.to_owned())),
            ..BindingUpdate::default()
        };
        store
            .update_binding("org-at-rest", update, NOW)
            .await
            .expect("update");
        let signing = NewSigningKey {
            private_key_pkcs8: Secret::new(self.private_key.to_vec()),
            ..new_signing_key("kid-at-rest")
        };
        store
            .insert_signing_key(signing, NOW)
            .await
            .expect("signing key");
    }

    /// The plaintexts, as bytes.
    pub(crate) fn all(&self) -> [&'static [u8]; 3] {
        [
            self.replaced_key.as_bytes(),
            self.api_key.as_bytes(),
            self.private_key,
        ]
    }
}
