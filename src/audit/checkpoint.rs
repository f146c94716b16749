//! Checkpoints: the head of the chain (seq, hash, time), signed with an Ed25519 key
//! kept outside the data directory.
//!
//! The chain shows an entry was altered or removed *relative to the entries after
//! it*; it cannot show that the newest entries were cut off, or that the whole log
//! was rewritten consistently. A checkpoint kept somewhere else can: an auditor who
//! saved one (from `GET /v1/audit/checkpoint` or the server's log output) runs
//! `intervene audit verify --checkpoint FILE`, which fails when the log is shorter
//! than the checkpoint or holds another hash at its `seq`.
//!
//! The writer thread makes one at startup, every `audit.checkpoint_every_entries`
//! entries, every `audit.checkpoint_every_secs` seconds when the head moved, and at
//! shutdown. Each is logged (an info line) and written to `checkpoint.json` in the
//! data directory (replaced atomically, fsynced).
//!
//! Between checkpoints the writer also records the head after every group commit in
//! `audit.head` (one line overwritten in place, not fsynced each time: it is a guard
//! against damage, not against power loss). When the store opens, the log must reach
//! the newer of the two: sled treats a damaged tail as a torn write and drops it
//! without an error, and this is how that loss is seen (see `Store::open`).
//!
//! Signed message (UTF-8): `intervene audit checkpoint v1\n{seq}\n{hash}\n{at}\n`.

use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// File (in the data directory) holding the latest checkpoint.
pub const CHECKPOINT_FILE: &str = "checkpoint.json";
/// File (in the data directory) holding the head after the last group commit.
pub const HEAD_FILE: &str = "audit.head";

/// How to check a checkpoint by hand (served with it).
pub const HOW_TO_VERIFY: &str = "Ed25519 signature (hex) by public_key (hex) over the UTF-8 text \
\"intervene audit checkpoint v1\\n{seq}\\n{hash}\\n{at}\\n\". Keep this document; later, \
`intervene audit verify --checkpoint FILE --public-key KEY` fails if the log is shorter than \
seq or entry seq no longer has this hash. No signature: the server has no checkpoint key \
(audit.checkpoint_key), so only a copy you kept yourself can be trusted.";

/// A signed statement of the chain's head.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last entry's sequence number (0: empty log).
    pub seq: u64,
    /// That entry's hash.
    pub hash: String,
    /// When the checkpoint was made (UTC, RFC 3339).
    pub at: String,
    /// Hex Ed25519 public key; `null` when the server has no checkpoint key.
    pub public_key: Option<String>,
    /// Hex Ed25519 signature over [`Checkpoint::message`]; `null` when unsigned.
    pub signature: Option<String>,
}

impl Checkpoint {
    /// The bytes signed.
    pub fn message(&self) -> String {
        format!(
            "intervene audit checkpoint v1\n{}\n{}\n{}\n",
            self.seq, self.hash, self.at
        )
    }

    /// A checkpoint of `(seq, hash)` now, signed when there is a key.
    pub fn make(seq: u64, hash: &str, key: Option<&SigningKey>) -> Checkpoint {
        let mut c = Checkpoint {
            seq,
            hash: hash.to_string(),
            at: super::entry::now(),
            public_key: None,
            signature: None,
        };
        if let Some(k) = key {
            c.public_key = Some(hex::encode(k.verifying_key().to_bytes()));
            c.signature = Some(hex::encode(k.sign(c.message().as_bytes()).to_bytes()));
        }
        c
    }

    /// Check the signature, by `pinned` when given (else by the key the checkpoint
    /// names, which only shows it was not altered since whoever signed it).
    pub fn check_signature(&self, pinned: Option<&str>) -> Result<(), String> {
        let Some(sig) = &self.signature else {
            return match pinned {
                Some(_) => Err(format!("checkpoint at entry {} is not signed", self.seq)),
                None => Ok(()),
            };
        };
        let key_hex = match (pinned, &self.public_key) {
            (Some(p), Some(named)) if !p.eq_ignore_ascii_case(named) => {
                return Err(format!(
                    "checkpoint at entry {} is signed by `{named}`, not by the key given",
                    self.seq
                ));
            }
            (Some(p), _) => p,
            (None, Some(named)) => named.as_str(),
            (None, None) => return Err("a signed checkpoint must name its `public_key`".into()),
        };
        let key = parse_public_key(key_hex)?;
        let sig: [u8; 64] = hex::decode(sig)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                format!(
                    "checkpoint at entry {}: `signature` is not 64 hex bytes",
                    self.seq
                )
            })?;
        key.verify(self.message().as_bytes(), &Signature::from_bytes(&sig))
            .map_err(|_| {
                format!(
                    "checkpoint at entry {}: the signature does not match (the checkpoint was altered or signed by another key)",
                    self.seq
                )
            })
    }
}

/// A hex Ed25519 public key.
pub fn parse_public_key(hex_key: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("public key `{hex_key}` is not 32 bytes of hex"))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("public key `{hex_key}`: {e}"))
}

/// Why a checkpoint key could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("checkpoint key `{path}`: {message}")]
    Bad { path: String, message: String },
    #[error("checkpoint key `{path}`: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Read a checkpoint key file: the 32-byte Ed25519 secret key as 64 hex digits.
pub fn load_key(path: &Path) -> Result<SigningKey, KeyError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: shown.clone(),
        source,
    })?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| KeyError::Bad {
            path: shown,
            message: "must hold 64 hex digits (make one with `intervene keys checkpoint`)".into(),
        })?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Make a new key file (mode 0600, never overwriting one); returns its public key.
pub fn create_key(path: &Path) -> Result<String, KeyError> {
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| io(std::io::Error::other(e)))?;
    let key = SigningKey::from_bytes(&seed);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    writeln!(f, "{}", hex::encode(seed)).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(hex::encode(key.verifying_key().to_bytes()))
}

/// Why `audit.head` or `checkpoint.json` could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is damaged: {source}")]
    Unparsable {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// `audit.head` is not `<seq> <64 hex digits>`.
    #[error("`{path}` is damaged")]
    BadHead { path: String },
}

/// What the store last promised, read back when it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Promised {
    pub seq: u64,
    pub hash: String,
    /// Which file said so.
    pub file: &'static str,
}

/// The newer of `audit.head` and `checkpoint.json` in `dir`; `Err` when one of them
/// exists but cannot be read (that is damage too).
pub(super) fn promised(dir: &Path) -> Result<Option<Promised>, FileError> {
    let head = read_head(dir)?;
    let cp = read_latest(dir)?.map(|c| Promised {
        seq: c.seq,
        hash: c.hash,
        file: CHECKPOINT_FILE,
    });
    Ok(match (head, cp) {
        (Some(h), Some(c)) => Some(if c.seq > h.seq { c } else { h }),
        (h, c) => h.or(c),
    })
}

/// The latest checkpoint kept in `dir`.
pub fn read_latest(dir: &Path) -> Result<Option<Checkpoint>, FileError> {
    let path = dir.join(CHECKPOINT_FILE);
    match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(FileError::Read {
            path: path.display().to_string(),
            source,
        }),
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| FileError::Unparsable {
                    path: path.display().to_string(),
                    source,
                })
        }
    }
}

fn read_head(dir: &Path) -> Result<Option<Promised>, FileError> {
    let path = dir.join(HEAD_FILE);
    let text = match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(FileError::Read {
                path: path.display().to_string(),
                source,
            });
        }
        Ok(t) => t,
    };
    let mut parts = text.split_whitespace();
    match (parts.next().map(str::parse::<u64>), parts.next()) {
        (Some(Ok(seq)), Some(hash)) if hash.len() == 64 => Ok(Some(Promised {
            seq,
            hash: hash.to_string(),
            file: HEAD_FILE,
        })),
        _ => Err(FileError::BadHead {
            path: path.display().to_string(),
        }),
    }
}

/// Keeps `audit.head` and `checkpoint.json` up to date (owned by the writer).
pub(super) struct Files {
    dir: PathBuf,
    head: Option<std::fs::File>,
}

impl Files {
    pub(super) fn open(dir: &Path) -> std::io::Result<Files> {
        let head = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join(HEAD_FILE))?;
        Ok(Files {
            dir: dir.to_path_buf(),
            head: Some(head),
        })
    }

    /// Record the head: one fixed-width line written in place.
    pub(super) fn record_head(&self, seq: u64, hash: &str, sync: bool) -> std::io::Result<()> {
        if let Some(f) = &self.head {
            f.write_all_at(format!("{seq:020} {hash}\n").as_bytes(), 0)?;
            if sync {
                f.sync_data()?;
            }
        }
        Ok(())
    }

    /// Replace `checkpoint.json` (temp file, fsync, rename, fsync the directory).
    pub(super) fn keep(&self, c: &Checkpoint) -> std::io::Result<()> {
        let tmp = self.dir.join(format!("{CHECKPOINT_FILE}.tmp"));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(c).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(CHECKPOINT_FILE))?;
        std::fs::File::open(&self.dir)?.sync_all()
    }
}

/// When the writer makes checkpoints, and with which key.
#[derive(Clone)]
pub struct Policy {
    pub key: Option<SigningKey>,
    pub every_entries: u64,
    pub every: std::time::Duration,
}

impl Policy {
    /// The policy as configured: the key is read from `key` (refused inside `data`,
    /// where whoever can rewrite the log could also take it).
    pub fn load(
        key: Option<&Path>,
        data: &Path,
        every_entries: u64,
        every_secs: u64,
    ) -> Result<Policy, KeyError> {
        let key = match key {
            None => None,
            Some(path) => {
                let inside = std::fs::canonicalize(path)
                    .ok()
                    .zip(std::fs::canonicalize(data).ok())
                    .is_some_and(|(k, d)| k.starts_with(d));
                if inside {
                    return Err(KeyError::Bad {
                        path: path.display().to_string(),
                        message: "is inside the data directory; keep it elsewhere (whoever can rewrite the log must not hold the key)".into(),
                    });
                }
                Some(load_key(path)?)
            }
        };
        Ok(Policy {
            key,
            every_entries: every_entries.max(1),
            every: std::time::Duration::from_secs(every_secs.max(1)),
        })
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            key: None,
            every_entries: 10_000,
            every: std::time::Duration::from_secs(300),
        }
    }
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("signed", &self.key.is_some())
            .field("every_entries", &self.every_entries)
            .field("every", &self.every)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_verifies_and_an_altered_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let public = create_key(&path).unwrap();
        let key = load_key(&path).unwrap();
        let c = Checkpoint::make(7, &"a".repeat(64), Some(&key));
        assert_eq!(c.public_key.as_deref(), Some(public.as_str()));
        c.check_signature(Some(&public)).unwrap();
        let mut altered = c.clone();
        altered.seq = 6;
        assert!(altered.check_signature(Some(&public)).is_err());
        let other = create_key(&dir.path().join("k2")).unwrap();
        assert!(c.check_signature(Some(&other)).is_err());
        assert!(
            create_key(&path).is_err(),
            "an existing key is never overwritten"
        );
    }
}
