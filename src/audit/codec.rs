//! How an entry's line is kept in sled: compressed.
//!
//! An entry's line (see `chain`) is what its hash covers and what export writes; the
//! store keeps it as a zstd frame compressed against a dictionary trained on decision
//! entries (about a tenth of the line's size: most of a decision is field names,
//! rule ids and explanation text that every decision shares). Reading gives back the
//! line byte for byte, so the hash rule, export and every reader above this module
//! are unchanged.
//!
//! The stored bytes say what they are: a value starting with `{` is a line kept as
//! it is (every entry written before store format 2, and any line that did not
//! compress); one starting with zstd's frame magic is compressed, its frame naming
//! its dictionary by id. Every dictionary a store has used is kept in its meta tree
//! (`zdict:` + id), so a later binary that ships another dictionary still reads old
//! entries. A value that is neither, or a frame that does not decompress, is a
//! damaged entry: [`Log::decode`] says so naming the entry, and `verify` reports it
//! at that seq.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::RangeBounds;
use std::sync::{Arc, OnceLock};

use sled::IVec;
use zstd::zstd_safe::{self, CCtx, CDict, DCtx, DDict};

use super::error::AuditError;

/// The dictionary this binary writes with, trained on the shipped rules' decision
/// entries by `examples/audit_dict.rs`.
const SHIPPED: &[u8] = include_bytes!("entries.zdict");

/// zstd's frame magic, little-endian.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// Meta key prefix of a kept dictionary (followed by its id, big-endian).
const DICT_KEY: &[u8] = b"zdict:";

/// zstd level: 3 is zstd's default; higher levels cost the writer more CPU than
/// they save on disk at these sizes.
const LEVEL: i32 = 3;

/// No stored line is larger than this (a record is bounded far below it); a frame
/// claiming more is damaged.
const MAX_LINE: u64 = 64 << 20;

/// The shipped dictionary, prepared once per process.
struct Shipped {
    id: u32,
    cdict: CDict<'static>,
    ddict: DDict<'static>,
}

fn shipped() -> Option<&'static Shipped> {
    static SHIPPED_DICT: OnceLock<Option<Shipped>> = OnceLock::new();
    SHIPPED_DICT
        .get_or_init(|| {
            Some(Shipped {
                id: zstd_safe::get_dict_id_from_dict(SHIPPED)?.into(),
                cdict: CDict::try_create(SHIPPED, LEVEL)?,
                ddict: DDict::create(SHIPPED),
            })
        })
        .as_ref()
}

thread_local! {
    static CCTX: RefCell<CCtx<'static>> = RefCell::new(CCtx::create());
    static DCTX: RefCell<DCtx<'static>> = RefCell::new(DCtx::create());
}

/// `bytes` (JSON) compressed with the shipped dictionary, or `bytes` themselves
/// when that is no smaller. For values beside the log that can be rebuilt from it
/// (the caseload), which need no dictionary of their own kept: a binary shipping
/// another dictionary changes their format version and rebuilds them.
pub fn pack(bytes: &[u8]) -> Vec<u8> {
    let Some(d) = shipped() else {
        return bytes.to_vec();
    };
    let mut out = Vec::with_capacity(zstd_safe::compress_bound(bytes.len()));
    let done = CCTX.with(|c| {
        c.borrow_mut()
            .compress_using_cdict(&mut out, bytes, &d.cdict)
    });
    if done.is_ok() && out.len() < bytes.len() {
        out
    } else {
        bytes.to_vec()
    }
}

/// What [`pack`] was given (JSON, starting with `{` or `[`), or why `stored` is
/// damaged.
pub fn unpack(stored: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    match stored.first() {
        Some(b'{' | b'[') => Ok(Cow::Borrowed(stored)),
        _ if stored.starts_with(&ZSTD_MAGIC) => {
            let d = shipped().ok_or("the shipped dictionary does not load")?;
            unframe(stored, &d.ddict).map(Cow::Owned)
        }
        _ => Err("its stored bytes are neither JSON nor compressed JSON".into()),
    }
}

/// Decompress one frame with `ddict`.
fn unframe(stored: &[u8], ddict: &DDict<'static>) -> Result<Vec<u8>, String> {
    let size = match zstd_safe::get_frame_content_size(stored) {
        Ok(Some(n)) if n <= MAX_LINE => n as usize,
        _ => return Err("its compressed frame is damaged".into()),
    };
    let mut out = Vec::with_capacity(size);
    DCTX.with(|d| {
        d.borrow_mut()
            .decompress_using_ddict(&mut out, stored, ddict)
    })
    .map_err(|code| {
        format!(
            "its compressed frame is damaged ({})",
            zstd_safe::get_error_name(code)
        )
    })?;
    Ok(out)
}

/// The dictionaries a store keeps, by id.
struct Codec {
    /// Dictionaries kept in the store other than the shipped one.
    others: HashMap<u32, DDict<'static>>,
}

/// The log tree with its codec: lines in, lines out.
#[derive(Clone)]
pub struct Log {
    tree: sled::Tree,
    codec: Arc<Codec>,
}

impl Log {
    /// The log tree of `db`, with the dictionaries kept in `meta` (the shipped one
    /// added when missing).
    pub fn open(tree: sled::Tree, meta: &sled::Tree) -> Result<Log, AuditError> {
        let d = shipped()
            .ok_or_else(|| AuditError::Damaged("the shipped dictionary does not load".into()))?;
        let key = dict_key(d.id);
        if meta.get(&key)?.is_none() {
            meta.insert(key, SHIPPED)?;
        }
        let mut others = HashMap::new();
        for item in meta.scan_prefix(DICT_KEY) {
            let (k, v) = item?;
            let id = <[u8; 4]>::try_from(&k[DICT_KEY.len()..])
                .map(u32::from_be_bytes)
                .map_err(|_| AuditError::Damaged("a kept dictionary's key is malformed".into()))?;
            if id != d.id {
                others.insert(id, DDict::create(&v));
            }
        }
        Ok(Log {
            tree,
            codec: Arc::new(Codec { others }),
        })
    }

    /// The sled tree itself: keys only, or stored bytes as they are on disk.
    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Keep `line` as entry `seq` (not flushed).
    pub fn insert(&self, seq: u64, line: &[u8]) -> Result<(), AuditError> {
        self.tree.insert(seq.to_be_bytes(), self.encode(line))?;
        Ok(())
    }

    /// The line of entry `seq`.
    pub fn get(&self, seq: u64) -> Result<Option<IVec>, AuditError> {
        match self.tree.get(seq.to_be_bytes())? {
            None => Ok(None),
            Some(v) => self.decode(seq, v).map(Some),
        }
    }

    /// The last entry's seq and line.
    pub fn last(&self) -> Result<Option<(u64, IVec)>, AuditError> {
        match self.tree.last()? {
            None => Ok(None),
            Some((k, v)) => {
                let seq = key_seq(&k);
                Ok(Some((seq, self.decode(seq, v)?)))
            }
        }
    }

    /// Entries in `range` (of seqs), in order, each as its seq and line.
    pub fn range<R: RangeBounds<u64>>(
        &self,
        range: R,
    ) -> impl DoubleEndedIterator<Item = Result<(u64, IVec), AuditError>> + '_ {
        let be = |b: std::ops::Bound<&u64>| b.map(|s| s.to_be_bytes());
        let bounds = (be(range.start_bound()), be(range.end_bound()));
        self.tree.range(bounds).map(move |item| {
            let (k, v) = item?;
            let seq = key_seq(&k);
            Ok((seq, self.decode(seq, v)?))
        })
    }

    /// The stored bytes of `line`: compressed, or the line itself when compressing
    /// does not make it smaller.
    pub fn encode(&self, line: &[u8]) -> Vec<u8> {
        pack(line)
    }

    /// The line kept as `stored` for entry `seq`.
    pub fn decode(&self, seq: u64, stored: IVec) -> Result<IVec, AuditError> {
        let damaged = |message: String| AuditError::Corrupt { seq, message };
        match stored.first() {
            Some(b'{') => return Ok(stored),
            _ if stored.starts_with(&ZSTD_MAGIC) => {}
            _ => {
                return Err(damaged(
                    "its stored bytes are neither a line nor a compressed line".into(),
                ));
            }
        }
        let id = zstd_safe::get_dict_id_from_frame(&stored).map_or(0, u32::from);
        let ddict = match shipped() {
            Some(d) if d.id == id => &d.ddict,
            _ => self.codec.others.get(&id).ok_or_else(|| {
                damaged(format!(
                    "it was compressed with dictionary {id}, which this store does not keep"
                ))
            })?,
        };
        let line = unframe(&stored, ddict).map_err(damaged)?;
        if line.first() != Some(&b'{') {
            return Err(damaged("its compressed frame does not hold a line".into()));
        }
        Ok(IVec::from(line))
    }
}

/// The sequence number in a log key (or a big-endian `u64` value).
pub(crate) fn key_seq(k: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = k.len().min(8);
    b[8 - n..].copy_from_slice(&k[k.len() - n..]);
    u64::from_be_bytes(b)
}

fn dict_key(id: u32) -> Vec<u8> {
    let mut k = DICT_KEY.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}
