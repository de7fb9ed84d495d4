//! Secrets at rest: what someone reading the tables (a dump, a replica, a DBA) gets.

use sqlx::AssertSqlSafe;
use store::{MasterKey, Secret};

use super::Schema;
use crate::contract::{AtRestSecrets, Fixture};

const SECRETS: AtRestSecrets = AtRestSecrets {
    replaced_key: "KEY4567-REPLACED-MUST-NOT-APPEAR-IN-THE-DATABASE",
    api_key: "KEY0123-THIS-MUST-NOT-APPEAR-IN-THE-DATABASE",
    private_key: b"PRIVATE-PKCS8-THIS-MUST-NOT-APPEAR-IN-THE-DATABASE",
};

#[tokio::test]
async fn the_tables_never_hold_a_secret_in_plaintext() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let master = MasterKey::from_bytes(Secret::new(vec![0x5a; 32])).expect("32 bytes");
    let store = schema.connect(master).await;
    SECRETS.write(&store).await;

    // Every row as text: bytea columns appear as `\x<hex>`.
    let mut dump = String::new();
    for table in ["bindings", "tokens", "signing_keys", "audit_events"] {
        let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT r::text FROM {}.{table} r",
            schema.name
        )))
        .fetch_all(&schema.admin)
        .await
        .expect("dump");
        dump.extend(rows);
    }
    assert!(dump.contains("org-at-rest"), "the dump holds the data");
    assert!(dump.contains("kid-at-rest"), "the dump holds the data");
    let [replaced, current, private] = SECRETS.all();
    for secret in [replaced, current, private, &[0x5a; 32]] {
        let hex = hex::encode(secret);
        assert!(!dump.contains(&hex), "secret bytes in the database");
        if let Ok(text) = std::str::from_utf8(secret) {
            assert!(!dump.contains(text), "plaintext secret in the database");
        }
    }
    schema.release().await;
}
