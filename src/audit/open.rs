//! Opening the store: the trees, the startup check against what was acknowledged
//! (`tail`), the startup checkpoint, and the writer thread.

use std::path::Path;
use std::sync::{Arc, Mutex};

use super::chain::{self, Gap, Trees};
use super::checkpoint::{self, Checkpoint};
use super::error::AuditError;
use super::follow::{Attach, LogView};
use super::health::{self, Health, Identity};
use super::tail;
use super::writer::{self, FlushObserver};

/// How a store is opened.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OpenMode {
    /// To take entries: refuses a log that lost acknowledged entries.
    #[default]
    Serve,
    /// To read and verify only (the CLI's `verify`, `export`, `show`): opens whatever
    /// is there, writes nothing, and lets `Store::verify` report what is wrong.
    Inspect,
    /// Like `Serve`, but a log that lost its newest entries gets an `audit.gap`
    /// entry recording the loss (by `actor`), and goes on after it.
    RecordGap { actor: String },
}

/// Everything `Store::open_with` takes.
#[derive(Default)]
pub struct Options {
    pub observer: Option<FlushObserver>,
    /// State to keep current beside the log (the caseload index), attached after
    /// recovery and before the writer starts.
    pub follow: Option<Attach>,
    pub checkpoints: checkpoint::Policy,
    pub mode: OpenMode,
}

/// An opened store's parts, for `Store` to hold.
pub(super) struct Opened {
    pub trees: Trees,
    pub writer: writer::Handle,
    pub health: Arc<Health>,
    /// The data directory as opened (`None` for a store opened to inspect).
    pub identity: Option<Identity>,
    pub latest: Arc<Mutex<Option<Checkpoint>>>,
    /// The gap recorded when opened with [`OpenMode::RecordGap`].
    pub gap: Option<Gap>,
}

/// Open the audit trees of `db` (in `dir`) as `options` say.
pub(super) fn open(db: sled::Db, dir: &Path, options: Options) -> Result<Opened, AuditError> {
    let damaged = |e: String| AuditError::Damaged(e);
    let (trees, head) = health::no_panic("reading the audit log", || chain::open_trees(&db, dir))
        .map_err(damaged)??;
    let health = Arc::new(Health::default());
    let latest = Arc::new(Mutex::new(None));
    if options.mode == OpenMode::Inspect {
        return Ok(Opened {
            trees,
            writer: writer::Handle::closed(),
            health,
            identity: None,
            latest,
            gap: None,
        });
    }
    let record_gap_as = match &options.mode {
        OpenMode::RecordGap { actor } => Some(actor.as_str()),
        _ => None,
    };
    let (head, gap) = health::no_panic("reading the audit log", || {
        tail::settle(&trees, dir, head, record_gap_as, &health)
    })
    .map_err(damaged)??;
    let identity = Identity::take(dir, std::fs::File::open(dir.join("db")).ok())?;
    let mut guards = writer::Guards {
        health: health.clone(),
        identity: Identity::take(dir, std::fs::File::open(dir.join("db")).ok()).ok(),
        files: Some(checkpoint::Files::open(dir)?),
        policy: options.checkpoints,
        latest: latest.clone(),
        last: (0, std::time::Instant::now()),
    };
    if health.problem().is_none() {
        // The startup checkpoint (also brings `audit.head` up to date).
        guards.checkpoint(&head).map_err(AuditError::Damaged)?;
    }
    let view = LogView {
        db: trees.db.clone(),
        log: trees.log.clone(),
    };
    // A follower that cannot catch up (a log damaged where it must read) does not
    // keep the store from opening: the log is what auditors need to see the damage.
    let follower = options.follow.and_then(|attach| {
        match health::no_panic("bringing the caseload up to date", || attach(&view, head.0)) {
            Ok(Ok(f)) => Some(f),
            Ok(Err(problem)) | Err(problem) => {
                tracing::error!(%problem, "the caseload index is not kept until the server restarts and rebuilds it");
                health.mark_lagging(problem);
                None
            }
        }
    });
    let writer = writer::Handle::start(trees.clone(), head, options.observer, guards, follower);
    Ok(Opened {
        trees,
        writer,
        health,
        identity: Some(identity),
        latest,
        gap,
    })
}
