//! Decoder state files of the collector's workers: one file per worker, all loaded by
//! every worker at start (templates are keyed by exporter, so sharing them is harmless and
//! an exporter that the kernel now hashes to another worker still decodes).

use std::path::{Path, PathBuf};

use plumb_collector::netflow::Decoder;
use plumb_collector::netflow::state::{DecoderState, SavedState, StateLimits};

/// Every worker's saved state in `dir`, merged. Unreadable files are reported and skipped.
pub fn load_all(dir: &Path) -> Vec<SavedState> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    paths.sort();
    for p in paths {
        let mut s = DecoderState::new(StateLimits::default());
        match s.load(&p) {
            Ok(()) => out.push(s.to_saved()),
            Err(e) => tracing::warn!("skipping decoder state: {e}"),
        }
    }
    out
}

pub fn restore(dec: &mut Decoder, saved: &[SavedState]) {
    for s in saved {
        dec.state.restore(SavedState {
            format: s.format,
            templates: s.templates.clone(),
            sampling: s.sampling.clone(),
            system_init_ms: s.system_init_ms.clone(),
        });
    }
}
