//! Data sets that arrived before their template (the vDS does this after every restart),
//! held in a bounded buffer and decoded when the template arrives.

use std::collections::VecDeque;

use super::TemplateKey;

/// What a held set needs to be decoded later.
#[derive(Clone, Debug)]
pub struct HeldSet {
    pub key: TemplateKey,
    pub ctx: crate::netflow::MsgContext,
    pub body: Vec<u8>,
}

/// Bounded FIFO of held sets; when full, the oldest are dropped and counted.
pub struct Pending {
    sets: VecDeque<HeldSet>,
    bytes: usize,
    max_bytes: usize,
    max_sets: usize,
}

/// What happened when a set was offered.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Evicted {
    pub sets: u64,
    pub bytes: u64,
}

impl Pending {
    pub fn new(max_bytes: usize, max_sets: usize) -> Self {
        Self { sets: VecDeque::new(), bytes: 0, max_bytes, max_sets }
    }

    /// Holds a copy of `body`; returns what had to be dropped to make room.
    pub fn hold(&mut self, key: TemplateKey, ctx: crate::netflow::MsgContext, body: &[u8]) -> Evicted {
        let mut ev = Evicted::default();
        if body.len() > self.max_bytes || self.max_sets == 0 {
            ev.sets = 1;
            ev.bytes = body.len() as u64;
            return ev;
        }
        while self.bytes + body.len() > self.max_bytes || self.sets.len() >= self.max_sets {
            let Some(old) = self.sets.pop_front() else {
                break;
            };
            self.bytes -= old.body.len();
            ev.sets += 1;
            ev.bytes += old.body.len() as u64;
        }
        self.bytes += body.len();
        self.sets.push_back(HeldSet { key, ctx, body: body.to_vec() });
        ev
    }

    /// Removes and returns the sets waiting for `key`, oldest first.
    pub fn take(&mut self, key: &TemplateKey) -> Vec<HeldSet> {
        if !self.sets.iter().any(|s| &s.key == key) {
            return Vec::new();
        }
        let (hit, keep): (Vec<_>, Vec<_>) = self.sets.drain(..).partition(|s| &s.key == key);
        self.sets = keep.into();
        self.bytes = self.sets.iter().map(|s| s.body.len()).sum();
        hit
    }

    /// Sets currently held.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Bytes currently held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}
