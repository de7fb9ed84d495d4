//! Master key files: created 0600, reloaded to the same key, malformed files named clearly.

use std::os::unix::fs::PermissionsExt;

use store::{MasterKey, MasterKeyError, MasterKeySource, Secret};

#[test]
fn a_missing_key_file_is_created_0600_and_reloads_to_the_same_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("new/dirs/master.key");

    let (created, source) = MasterKey::load_or_create(&path).expect("create");
    assert_eq!(source, MasterKeySource::Created);
    let mode = std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(text.len(), 65);
    assert!(text.ends_with('\n'));
    assert!(
        text[..64]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "lowercase hex"
    );

    let (loaded, source) = MasterKey::load_or_create(&path).expect("load");
    assert_eq!(source, MasterKeySource::Loaded);
    assert_eq!(loaded.id(), created.id());
    let from_text = hex::decode(&text[..64]).expect("hex");
    assert_eq!(
        MasterKey::from_bytes(Secret::new(from_text))
            .expect("32 bytes")
            .id(),
        created.id()
    );
    assert!(
        created.id().starts_with("mk-") && created.id().len() == 19,
        "{}",
        created.id()
    );
}

#[test]
fn surrounding_whitespace_and_uppercase_hex_are_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("master.key");
    std::fs::write(&path, format!("  {}\r\n\n", "AB".repeat(32))).expect("write");
    let (key, source) = MasterKey::load_or_create(&path).expect("load");
    assert_eq!(source, MasterKeySource::Loaded);
    let expected = MasterKey::from_bytes(Secret::new(vec![0xab; 32])).expect("32 bytes");
    assert_eq!(key.id(), expected.id());
}

#[test]
fn a_malformed_key_file_names_the_path_and_not_the_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("master.key");
    let content = "SECRETISH-not-hex-at-all-zzzz";
    std::fs::write(&path, content).expect("write");
    let err = MasterKey::load_or_create(&path).expect_err("malformed");
    assert!(
        matches!(err, MasterKeyError::InvalidFormat { path: ref p } if *p == path),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(!message.contains("SECRETISH"), "{message}");
    // A malformed file is never replaced by a new key.
    assert_eq!(std::fs::read_to_string(&path).expect("read"), content);
}

#[test]
fn a_key_file_of_the_wrong_length_says_how_long_it_is() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("master.key");
    std::fs::write(&path, format!("{}\n", "0f".repeat(16))).expect("write");
    let err = MasterKey::load_or_create(&path).expect_err("16 bytes");
    assert!(
        matches!(err, MasterKeyError::WrongLength { len: 16, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(!message.contains("0f0f"), "{message}");
}

#[test]
fn an_unreadable_key_path_is_an_io_error_naming_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A directory where the file should be.
    let err = MasterKey::load_or_create(dir.path()).expect_err("a directory");
    assert!(
        matches!(err, MasterKeyError::Io { ref path, .. } if path == dir.path()),
        "{err:?}"
    );
    assert!(err.to_string().contains(&dir.path().display().to_string()));
}
