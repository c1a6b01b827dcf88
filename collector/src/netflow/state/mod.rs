//! Per-exporter decoder state: templates (with their compiled plans), sampling rates and
//! system init times learnt from options data. Bounded in size and saved to a state file so
//! a restart does not lose the data that arrives before the next template refresh (OVS
//! refreshes only every 600 s).

pub mod pending;
pub mod sequence;

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::addr::Addr16;

use super::plan::record_plan::RecordPlan;
use super::wire::template::Template;

/// Where a template is valid: one exporter, one protocol version, one domain/source id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub struct Scope {
    pub exporter: Addr16,
    /// 9 or 10.
    pub version: u8,
    /// IPFIX observation domain or v9 source id.
    pub domain: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub struct TemplateKey {
    pub scope: Scope,
    pub id: u16,
}

struct Compiled {
    template: Template,
    plan: RecordPlan,
}

/// Limits that keep state bounded whatever the exporters (or spoofers) send.
#[derive(Clone, Copy, Debug)]
pub struct StateLimits {
    pub max_templates: usize,
    pub max_sampling_entries: usize,
}

impl Default for StateLimits {
    fn default() -> Self {
        Self { max_templates: 65_536, max_sampling_entries: 65_536 }
    }
}

/// Why a template was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("template table full")]
    TemplateLimit,
}

pub struct DecoderState {
    templates: HashMap<TemplateKey, Compiled>,
    sampling: HashMap<(Scope, u64), u32>,
    system_init_ms: HashMap<Scope, u64>,
    limits: StateLimits,
}

/// The saved form of [`DecoderState`].
#[derive(Serialize, Deserialize, Default)]
pub struct SavedState {
    pub format: u32,
    pub templates: Vec<(TemplateKey, Template)>,
    pub sampling: Vec<(Scope, u64, u32)>,
    pub system_init_ms: Vec<(Scope, u64)>,
}

const STATE_FORMAT: u32 = 1;

impl DecoderState {
    pub fn new(limits: StateLimits) -> Self {
        Self { templates: HashMap::new(), sampling: HashMap::new(), system_init_ms: HashMap::new(), limits }
    }

    /// Stores (or replaces) a template and compiles it.
    pub fn insert_template(&mut self, key: TemplateKey, template: Template) -> Result<(), StateError> {
        if let Some(c) = self.templates.get(&key)
            && c.template == template
        {
            return Ok(());
        }
        if self.templates.len() >= self.limits.max_templates && !self.templates.contains_key(&key) {
            return Err(StateError::TemplateLimit);
        }
        let plan = RecordPlan::compile(&template);
        self.templates.insert(key, Compiled { template, plan });
        Ok(())
    }

    /// Withdraws one template; returns whether it existed.
    pub fn withdraw(&mut self, key: &TemplateKey) -> bool {
        self.templates.remove(key).is_some()
    }

    /// Withdraws every data or options template of a scope (IPFIX withdraw-all).
    pub fn withdraw_all(&mut self, scope: Scope, options: bool) -> usize {
        let before = self.templates.len();
        self.templates.retain(|k, c| !(k.scope == scope && c.template.options == options));
        before - self.templates.len()
    }

    pub fn plan(&self, key: &TemplateKey) -> Option<&RecordPlan> {
        self.templates.get(key).map(|c| &c.plan)
    }

    pub fn template_count(&self) -> usize {
        self.templates.len()
    }

    pub fn set_sampling(&mut self, scope: Scope, sampler: u64, factor: u32) {
        if self.sampling.len() < self.limits.max_sampling_entries
            || self.sampling.contains_key(&(scope, sampler))
        {
            self.sampling.insert((scope, sampler), factor);
        }
    }

    /// The factor announced in options data for this sampler, or for the whole scope.
    pub fn sampling(&self, scope: Scope, sampler: u64) -> Option<u32> {
        self.sampling.get(&(scope, sampler)).or_else(|| self.sampling.get(&(scope, 0))).copied()
    }

    pub fn set_system_init(&mut self, scope: Scope, ms: u64) {
        if self.system_init_ms.len() < self.limits.max_sampling_entries
            || self.system_init_ms.contains_key(&scope)
        {
            self.system_init_ms.insert(scope, ms);
        }
    }

    pub fn system_init(&self, scope: Scope) -> Option<u64> {
        self.system_init_ms.get(&scope).copied()
    }

    pub fn to_saved(&self) -> SavedState {
        let mut templates: Vec<_> = self.templates.iter().map(|(k, c)| (*k, c.template.clone())).collect();
        templates.sort_by_key(|(k, _)| *k);
        SavedState {
            format: STATE_FORMAT,
            templates,
            sampling: self.sampling.iter().map(|((s, id), f)| (*s, *id, *f)).collect(),
            system_init_ms: self.system_init_ms.iter().map(|(s, ms)| (*s, *ms)).collect(),
        }
    }

    pub fn restore(&mut self, saved: SavedState) {
        for (k, t) in saved.templates {
            let _ = self.insert_template(k, t);
        }
        for (s, id, f) in saved.sampling {
            self.set_sampling(s, id, f);
        }
        for (s, ms) in saved.system_init_ms {
            self.set_system_init(s, ms);
        }
    }

    /// Writes the state file atomically: temporary file, fsync, rename, then fsync of the
    /// folder, so that after a crash the folder names either the old file or the new one,
    /// whole (as the store commits its files).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec(&self.to_saved()).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::File::open(dir)?.sync_all()
    }

    /// Loads a state file written by [`DecoderState::save`]; a missing file is empty state.
    pub fn load(&mut self, path: &Path) -> std::io::Result<()> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let saved: SavedState = serde_json::from_slice(&bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: not a plumb state file ({e}); delete it to start afresh", path.display()),
            )
        })?;
        if saved.format != STATE_FORMAT {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: state format {} is not {STATE_FORMAT}", path.display(), saved.format),
            ));
        }
        self.restore(saved);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netflow::wire::template::FieldSpec;

    fn key(id: u16) -> TemplateKey {
        TemplateKey { scope: Scope { exporter: [7; 16], version: 10, domain: 1 }, id }
    }

    fn tpl(id: u16) -> Template {
        Template { id, scope_fields: 0, options: false, fields: vec![FieldSpec { id: 8, len: 4, pen: 0 }] }
    }

    #[test]
    fn state_survives_a_save_and_load() {
        let dir = std::env::temp_dir().join(format!("plumb-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        let mut s = DecoderState::new(StateLimits::default());
        s.insert_template(key(256), tpl(256)).unwrap();
        s.set_sampling(key(0).scope, 3, 1000);
        s.save(&path).unwrap();
        let mut t = DecoderState::new(StateLimits::default());
        t.load(&path).unwrap();
        assert!(t.plan(&key(256)).is_some());
        assert_eq!(t.sampling(key(0).scope, 3), Some(1000));
        assert_eq!(t.sampling(key(0).scope, 4), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn template_table_is_bounded() {
        let mut s = DecoderState::new(StateLimits { max_templates: 1, max_sampling_entries: 1 });
        s.insert_template(key(256), tpl(256)).unwrap();
        assert_eq!(s.insert_template(key(257), tpl(257)), Err(StateError::TemplateLimit));
        assert!(s.insert_template(key(256), tpl(256)).is_ok());
    }
}
