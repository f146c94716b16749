//! The shipped rule set and one shared evaluator, loaded once per test binary.

use std::path::Path;
use std::sync::OnceLock;

use intervene::engine::Evaluator;
use intervene::rules::RuleSet;

/// `rules/` as shipped; a test binary that cannot load it fails loudly.
pub fn rules() -> &'static RuleSet {
    static RULES: OnceLock<RuleSet> = OnceLock::new();
    RULES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        RuleSet::load_dir(&dir).unwrap_or_else(|e| panic!("shipped rules do not load:\n{e}"))
    })
}

/// The evaluator with the default sandbox limits.
pub fn evaluator() -> &'static Evaluator {
    static EV: OnceLock<Evaluator> = OnceLock::new();
    EV.get_or_init(Evaluator::new)
}
