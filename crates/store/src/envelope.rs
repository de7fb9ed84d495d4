//! Envelope encryption of secrets at rest: AES-256-GCM under a [`MasterKey`].
//!
//! Each secret is sealed with a fresh random 96-bit nonce. The associated data names the row the
//! ciphertext belongs to ([`binding_aad`], [`signing_key_aad`]), so a ciphertext copied into
//! another row fails to open instead of handing one organization's key to another. The master
//! key id is stored next to every ciphertext so a later rotation can find and re-wrap old rows.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest::{SHA256, digest};
use zeroize::Zeroizing;

use crate::Secret;

/// Length of a master key in bytes (AES-256).
const MASTER_KEY_LEN: usize = 32;

/// The key that wraps every secret the store keeps. Exactly 32 bytes.
///
/// `Debug` shows only the key id, never the key.
#[derive(Clone)]
pub struct MasterKey {
    key: Secret,
    id: String,
}

/// Where [`MasterKey::load_or_create`] got the key from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeySource {
    /// Read from an existing file.
    Loaded,
    /// Generated and written to a new file (the caller should warn: back the file up).
    Created,
}

/// Why a master key could not be loaded. Messages name the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    /// The file could not be read, created or written.
    #[error("master key file {}: i/o error", path.display())]
    Io {
        /// The master key file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file does not hold hex text.
    #[error("master key file {} does not hold 64 hex characters", path.display())]
    InvalidFormat {
        /// The master key file.
        path: PathBuf,
    },
    /// The file holds hex of the wrong length.
    #[error("master key file {} holds {len} bytes, expected 32", path.display())]
    WrongLength {
        /// The master key file.
        path: PathBuf,
        /// Decoded length in bytes.
        len: usize,
    },
    /// Key bytes passed to [`MasterKey::from_bytes`] are not 32 bytes long.
    #[error("master key is {len} bytes, expected 32")]
    WrongKeyLength {
        /// Length given, in bytes.
        len: usize,
    },
}

impl MasterKey {
    /// A new random key from the system RNG.
    ///
    /// # Panics
    /// When the operating system's random number generator fails.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; MASTER_KEY_LEN]);
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random number generator works");
        Self::from_secret(Secret::new(std::mem::take(&mut *bytes)))
    }

    /// Wraps existing key bytes.
    ///
    /// Errors: [`MasterKeyError::WrongKeyLength`] unless exactly 32 bytes.
    pub fn from_bytes(key: Secret) -> Result<Self, MasterKeyError> {
        if key.len() != MASTER_KEY_LEN {
            return Err(MasterKeyError::WrongKeyLength { len: key.len() });
        }
        Ok(Self::from_secret(key))
    }

    /// Reads the key file at `path`, or creates it with a new random key when it does not exist.
    ///
    /// The file holds 64 lowercase hex characters and a newline; surrounding whitespace is
    /// ignored when reading. A new file is created with mode 0600 (parent directories are
    /// created too) and never overwrites an existing one.
    ///
    /// Errors: [`MasterKeyError::Io`], [`MasterKeyError::InvalidFormat`],
    /// [`MasterKeyError::WrongLength`]; each names the path.
    pub fn load_or_create(path: &Path) -> Result<(MasterKey, MasterKeySource), MasterKeyError> {
        match std::fs::read(path) {
            Ok(content) => Ok((
                Self::parse_file(path, Zeroizing::new(content))?,
                MasterKeySource::Loaded,
            )),
            Err(err) if err.kind() == io::ErrorKind::NotFound => match Self::create_file(path) {
                Ok(key) => Ok((key, MasterKeySource::Created)),
                // Another process created it between our read and create: use theirs.
                Err(MasterKeyError::Io { source, .. })
                    if source.kind() == io::ErrorKind::AlreadyExists =>
                {
                    let content = std::fs::read(path).map_err(|source| io_error(path, source))?;
                    Ok((
                        Self::parse_file(path, Zeroizing::new(content))?,
                        MasterKeySource::Loaded,
                    ))
                }
                Err(err) => Err(err),
            },
            Err(source) => Err(io_error(path, source)),
        }
    }

    /// Key id: `mk-` and the first 16 hex characters of the SHA-256 of the key. Not secret.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn from_secret(key: Secret) -> Self {
        let hash = digest(&SHA256, key.expose_secret());
        let id = format!("mk-{}", &hex::encode(hash.as_ref())[..16]);
        Self { key, id }
    }

    fn parse_file(path: &Path, content: Zeroizing<Vec<u8>>) -> Result<Self, MasterKeyError> {
        let text = content.trim_ascii();
        let bytes =
            hex::decode(text)
                .map(Zeroizing::new)
                .map_err(|_| MasterKeyError::InvalidFormat {
                    path: path.to_owned(),
                })?;
        if bytes.len() != MASTER_KEY_LEN {
            return Err(MasterKeyError::WrongLength {
                path: path.to_owned(),
                len: bytes.len(),
            });
        }
        warn_if_readable_by_others(path);
        Ok(Self::from_secret(Secret::new(bytes.to_vec())))
    }

    fn create_file(path: &Path) -> Result<Self, MasterKeyError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| io_error(path, source))?;
        }
        let key = Self::generate();
        let mut text = Zeroizing::new(hex::encode(key.key.expose_secret()));
        text.push('\n');
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| io_error(path, source))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|source| io_error(path, source))?;
        Ok(key)
    }

    fn cipher(&self) -> LessSafeKey {
        let unbound = UnboundKey::new(&AES_256_GCM, self.key.expose_secret())
            .expect("a master key is always 32 bytes, the AES-256 key length");
        LessSafeKey::new(unbound)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn io_error(path: &Path, source: io::Error) -> MasterKeyError {
    MasterKeyError::Io {
        path: path.to_owned(),
        source,
    }
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            "master key file is accessible to group or others; chmod 600 it"
        );
    }
}

/// A sealed secret, as stored: master key id, nonce, ciphertext with the GCM tag appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    pub(crate) key_id: String,
    pub(crate) nonce: Vec<u8>,
    pub(crate) ciphertext: Vec<u8>,
}

/// Why a secret could not be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SealError {
    /// The plaintext is beyond what AES-GCM can encrypt under one nonce.
    TooLarge,
}

/// Why a sealed secret did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// Sealed under another master key than the one we hold.
    OtherMasterKey,
    /// The stored nonce is not 12 bytes.
    MalformedNonce,
    /// Authentication failed: tampered ciphertext, a row moved elsewhere, or a wrong key.
    Rejected,
}

/// Associated data binding a binding's API key ciphertext to that binding and organization.
pub(crate) fn binding_aad(binding_id: &str, org_id: &str) -> Vec<u8> {
    let mut aad = b"binding-proxy/v1/binding:".to_vec();
    aad.extend_from_slice(binding_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(org_id.as_bytes());
    aad
}

/// Associated data binding a private signing key ciphertext to its key id.
pub(crate) fn signing_key_aad(kid: &str) -> Vec<u8> {
    let mut aad = b"binding-proxy/v1/signing_key:".to_vec();
    aad.extend_from_slice(kid.as_bytes());
    aad
}

/// Encrypts `plaintext` under `master` with a fresh random nonce, bound to `aad`.
///
/// # Panics
/// When the operating system's random number generator fails.
pub(crate) fn seal(master: &MasterKey, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).expect("the system random number generator works");
    // Zeroizing: should sealing fail, the buffer still holds plaintext.
    let mut buffer = Zeroizing::new(plaintext.to_vec());
    master
        .cipher()
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut *buffer,
        )
        .map_err(|_| SealError::TooLarge)?;
    Ok(Sealed {
        key_id: master.id().to_owned(),
        nonce: nonce.to_vec(),
        ciphertext: std::mem::take(&mut *buffer),
    })
}

/// Decrypts a sealed secret, checking it was sealed under `master` for this `aad`.
pub(crate) fn open(
    master: &MasterKey,
    key_id: &str,
    nonce: &[u8],
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Secret, OpenError> {
    if key_id != master.id() {
        return Err(OpenError::OtherMasterKey);
    }
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::MalformedNonce)?;
    // Zeroizing: on success the buffer holds plaintext, on failure possibly part of it.
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    let len = master
        .cipher()
        .open_in_place(nonce, Aad::from(aad), &mut buffer)
        .map_err(|_| OpenError::Rejected)?
        .len();
    buffer.truncate(len);
    Ok(Secret::new(std::mem::take(&mut *buffer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes(Secret::new(vec![byte; 32])).expect("32 bytes")
    }

    #[test]
    fn sealed_secret_opens_with_the_same_key_and_aad() {
        let master = key(7);
        let aad = binding_aad("b1", "org1");
        let sealed = seal(&master, b"KEYsecret", &aad).expect("seal");
        assert_eq!(sealed.key_id, master.id());
        assert_eq!(sealed.nonce.len(), NONCE_LEN);
        assert_eq!(sealed.ciphertext.len(), b"KEYsecret".len() + 16);
        assert!(!sealed.ciphertext.windows(9).any(|w| w == b"KEYsecret"));
        let opened = open(
            &master,
            &sealed.key_id,
            &sealed.nonce,
            &sealed.ciphertext,
            &aad,
        )
        .expect("open");
        assert_eq!(opened.expose_secret(), b"KEYsecret");
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let master = key(7);
        let a = seal(&master, b"same", b"aad").expect("seal");
        let b = seal(&master, b"same", b"aad").expect("seal");
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn ciphertext_moved_to_another_row_does_not_open() {
        let master = key(7);
        let sealed = seal(&master, b"KEYsecret", &binding_aad("b1", "org1")).expect("seal");
        for aad in [
            binding_aad("b2", "org1"),
            binding_aad("b1", "org2"),
            signing_key_aad("b1"),
        ] {
            let err = open(
                &master,
                &sealed.key_id,
                &sealed.nonce,
                &sealed.ciphertext,
                &aad,
            );
            assert_eq!(err.err(), Some(OpenError::Rejected));
        }
    }

    #[test]
    fn aad_separates_ids_from_org_ids() {
        // Without the separator "ab"+"c" and "a"+"bc" would be the same associated data.
        assert_ne!(binding_aad("ab", "c"), binding_aad("a", "bc"));
    }

    #[test]
    fn tampered_ciphertext_or_nonce_does_not_open() {
        let master = key(7);
        let sealed = seal(&master, b"KEYsecret", b"aad").expect("seal");
        let mut ciphertext = sealed.ciphertext.clone();
        ciphertext[0] ^= 1;
        assert_eq!(
            open(&master, &sealed.key_id, &sealed.nonce, &ciphertext, b"aad").err(),
            Some(OpenError::Rejected)
        );
        let mut nonce = sealed.nonce.clone();
        nonce[0] ^= 1;
        assert_eq!(
            open(&master, &sealed.key_id, &nonce, &sealed.ciphertext, b"aad").err(),
            Some(OpenError::Rejected)
        );
        assert_eq!(
            open(
                &master,
                &sealed.key_id,
                &[0u8; 5],
                &sealed.ciphertext,
                b"aad"
            )
            .err(),
            Some(OpenError::MalformedNonce)
        );
    }

    #[test]
    fn another_master_key_does_not_open() {
        let sealed = seal(&key(7), b"KEYsecret", b"aad").expect("seal");
        let other = key(8);
        assert_eq!(
            open(
                &other,
                &sealed.key_id,
                &sealed.nonce,
                &sealed.ciphertext,
                b"aad"
            )
            .err(),
            Some(OpenError::OtherMasterKey)
        );
        // Even when the recorded id is forged, authentication fails.
        assert_eq!(
            open(
                &other,
                other.id(),
                &sealed.nonce,
                &sealed.ciphertext,
                b"aad"
            )
            .err(),
            Some(OpenError::Rejected)
        );
    }

    #[test]
    fn master_key_id_is_a_prefix_of_the_key_hash() {
        let master = key(0);
        // SHA-256 of 32 zero bytes starts 66687aadf862bd77.
        assert_eq!(master.id(), "mk-66687aadf862bd77");
        assert_ne!(MasterKey::generate().id(), MasterKey::generate().id());
    }

    #[test]
    fn from_bytes_rejects_other_lengths() {
        for len in [0, 16, 31, 33, 64] {
            let err = MasterKey::from_bytes(Secret::new(vec![1; len])).expect_err("wrong length");
            assert!(matches!(err, MasterKeyError::WrongKeyLength { len: l } if l == len));
        }
    }

    #[test]
    fn debug_shows_the_id_only() {
        let master = key(0xab);
        let debug = format!("{master:?}");
        assert!(debug.contains(master.id()));
        assert!(!debug.contains("abab"));
        assert!(!debug.contains("171"));
    }
}
