//! Secrets at rest: the SQLite file never holds a plaintext key; the master key file is 0600.

use std::os::unix::fs::PermissionsExt;

use crate::Stack;

const KEY: &str = "KEY06ATREST-THIS-MUST-NOT-APPEAR-ON-DISK";

#[tokio::test]
async fn store_file_holds_no_plaintext_key_and_master_key_is_private() {
    let (stack, _token) = Stack::with_binding("org-at-rest", KEY).await;
    let mut found_files = 0;
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", stack.proxy.store_file().display());
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        found_files += 1;
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "{path} contains the plaintext upstream key"
        );
    }
    assert!(found_files >= 1, "the store file exists");

    let mode = std::fs::metadata(stack.proxy.master_key_file())
        .expect("master key file exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "master key file mode");
    let logs = stack.proxy.logs().join("\n");
    assert!(
        logs.contains("created a new master key file"),
        "first start warns: {logs}"
    );
    assert!(!logs.contains(KEY), "the key never reaches the log");
}
