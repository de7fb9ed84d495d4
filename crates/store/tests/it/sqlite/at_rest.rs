//! Secrets at rest: what an attacker with a copy of the database file gets.

use store::{MasterKey, Store, StoreError};

use super::{master_key, open_file, raw_pool};
use crate::contract::{AtRestSecrets, NOW, new_binding, new_signing_key};

const SECRETS: AtRestSecrets = AtRestSecrets {
    replaced_key: "KEY4567-REPLACED-MUST-NOT-APPEAR-ON-DISK",
    api_key: "KEY0123-THIS-MUST-NOT-APPEAR-ON-DISK",
    private_key: b"PRIVATE-PKCS8-THIS-MUST-NOT-APPEAR-ON-DISK",
};

/// Every byte of every file in `dir` (database, WAL, shared memory).
fn disk_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        all.extend(std::fs::read(&path).expect("read file"));
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_database_files_never_hold_a_secret_in_plaintext() {
    let dir = tempfile::tempdir().expect("tempdir");
    let master = master_key(0x5a);
    let store = open_file(dir.path(), master.clone()).await;
    SECRETS.write(&store).await;

    let [replaced, current, private] = SECRETS.all();
    let forbidden: [&[u8]; 4] = [current, replaced, private, &[0x5a; 32]];
    // While open (data in the WAL) and after close (checkpointed into the main file).
    let open_bytes = disk_bytes(dir.path());
    store.close().await;
    let closed_bytes = disk_bytes(dir.path());
    for bytes in [open_bytes, closed_bytes] {
        assert!(
            contains(&bytes, b"org-at-rest"),
            "the scan sees the data it should"
        );
        for secret in forbidden {
            assert!(!contains(&bytes, secret), "plaintext secret on disk");
        }
        assert!(
            !contains(&bytes, hex::encode([0x5a; 32]).as_bytes()),
            "master key on disk"
        );
    }
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_does_not_decrypt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let master = master_key(1);
    let store = open_file(dir.path(), master.clone()).await;
    let victim = store
        .create_binding(new_binding("org-victim", "KEYvictim"), NOW)
        .await
        .expect("create");
    let attacker = store
        .create_binding(new_binding("org-attacker", "KEYattacker"), NOW)
        .await
        .expect("create");
    let raw = raw_pool(dir.path()).await;

    // Someone with write access to the database copies the victim's key into their own row.
    sqlx::query(
        "UPDATE bindings SET \
         api_key_ciphertext = (SELECT api_key_ciphertext FROM bindings WHERE org_id = 'org-victim'), \
         api_key_nonce = (SELECT api_key_nonce FROM bindings WHERE org_id = 'org-victim') \
         WHERE org_id = 'org-attacker'",
    )
    .execute(&raw)
    .await
    .expect("copy");
    let err = store
        .load_credential(&attacker.id, NOW)
        .await
        .expect_err("moved ciphertext");
    match err {
        StoreError::Decrypt {
            table,
            row_id,
            key_id,
        } => {
            assert_eq!(
                (table, row_id.as_str(), key_id.as_str()),
                ("bindings", attacker.id.as_str(), master.id())
            );
        }
        other => panic!("expected Decrypt, got {other:?}"),
    }
    let victim_credential = store
        .load_credential(&victim.id, NOW)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(victim_credential.api_key.expose_str(), Some("KEYvictim"));

    // Re-labelling the victim's row for another organization fails the same way.
    sqlx::query("UPDATE bindings SET org_id = 'org-renamed' WHERE org_id = 'org-victim'")
        .execute(&raw)
        .await
        .expect("rename");
    let err = store
        .load_credential(&victim.id, NOW)
        .await
        .expect_err("renamed row");
    assert!(
        matches!(
            err,
            StoreError::Decrypt {
                table: "bindings",
                ..
            }
        ),
        "{err:?}"
    );

    // And a private signing key copied onto the active key.
    store
        .insert_signing_key(new_signing_key("kid-1"), NOW)
        .await
        .expect("insert");
    store
        .insert_signing_key(new_signing_key("kid-2"), NOW + 1)
        .await
        .expect("insert");
    sqlx::query(
        "UPDATE signing_keys SET \
         private_ciphertext = (SELECT private_ciphertext FROM signing_keys WHERE kid = 'kid-1'), \
         private_nonce = (SELECT private_nonce FROM signing_keys WHERE kid = 'kid-1') \
         WHERE kid = 'kid-2'",
    )
    .execute(&raw)
    .await
    .expect("copy");
    let err = store
        .active_signing_key()
        .await
        .expect_err("moved ciphertext");
    assert!(
        matches!(err, StoreError::Decrypt { table: "signing_keys", ref row_id, .. } if row_id == "kid-2"),
        "{err:?}"
    );
}

#[tokio::test]
async fn another_master_key_cannot_decrypt_and_the_same_one_can() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = master_key(1);
    let store = open_file(dir.path(), original.clone()).await;
    let binding = store
        .create_binding(new_binding("org-a", "KEYoriginal"), NOW)
        .await
        .expect("create");
    store
        .insert_signing_key(new_signing_key("kid-1"), NOW)
        .await
        .expect("insert");
    store.close().await;

    let other = MasterKey::generate();
    let store = open_file(dir.path(), other).await;
    // Records without secrets still read; secrets do not.
    assert_eq!(
        store.binding_by_org("org-a").await.expect("read"),
        Some(binding.clone())
    );
    let err = store
        .load_credential(&binding.id, NOW)
        .await
        .expect_err("other master key");
    match err {
        StoreError::Decrypt {
            table: "bindings",
            key_id,
            ..
        } => assert_eq!(key_id, original.id()),
        other => panic!("expected Decrypt, got {other:?}"),
    }
    let err = store
        .active_signing_key()
        .await
        .expect_err("other master key");
    assert!(
        matches!(
            err,
            StoreError::Decrypt {
                table: "signing_keys",
                ..
            }
        ),
        "{err:?}"
    );
    store.close().await;

    let store = open_file(dir.path(), master_key(1)).await;
    let credential = store
        .load_credential(&binding.id, NOW)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(credential.api_key.expose_str(), Some("KEYoriginal"));
    assert!(store.active_signing_key().await.expect("active").is_some());
}
