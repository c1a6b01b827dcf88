//! The flow table pcap ingest and live capture share: packets in, `flows` rows out when a
//! flow goes idle, reaches the active timeout, ends with FIN/RST, or is evicted because the
//! table holds as many flows as it may.
//!
//! Flows sit in a slab linked in order of their last packet, so the idle sweep and the
//! eviction both take from the tail without searching. The hash index holds slab positions
//! only and the recency links sit in an array of their own: both stay in cache, so a packet
//! costs one miss (its flow) instead of four (index entry, flow, two list neighbours).

use std::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::HashTable;

use super::flow::{EndReason, Flow, FlowKey};
use crate::addr::Addr16;
use crate::packet::dissect::Dissection;
use crate::packet::tcp;
use crate::schema::FlowBuilders;

/// Timeouts and the bound of a [`FlowTable`].
#[derive(Clone, Copy, Debug)]
pub struct TableConfig {
    /// A flow with no packet for this long is written out (µs).
    pub idle_us: i64,
    /// A flow is written out at least this often while packets keep coming (µs).
    pub active_us: i64,
    /// Most flows held; a new flow beyond it evicts the one seen least recently.
    pub max_flows: usize,
}

impl Default for TableConfig {
    /// 15 s idle and 60 s active, as vSphere and most exporters default to; 262,144 flows
    /// (about 100 MiB).
    fn default() -> Self {
        TableConfig { idle_us: 15_000_000, active_us: 60_000_000, max_flows: 1 << 18 }
    }
}

/// What the table did, by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    pub packets: u64,
    /// Packets without an IP header (ARP, LLDP, STP, ...): counted, not aggregated.
    pub non_ip_packets: u64,
    pub flows_created: u64,
    pub ended_idle: u64,
    pub ended_active: u64,
    pub ended_fin: u64,
    pub ended_forced: u64,
    /// Flows written out early because the table was full.
    pub evicted: u64,
}

impl TableStats {
    fn ended(&mut self, reason: EndReason) {
        match reason {
            EndReason::Idle => self.ended_idle += 1,
            EndReason::Active => self.ended_active += 1,
            EndReason::EndOfFlow => self.ended_fin += 1,
            EndReason::Forced => self.ended_forced += 1,
            EndReason::Evicted => self.evicted += 1,
        }
    }

    /// Rows written, whatever ended them.
    pub fn rows(&self) -> u64 {
        self.ended_idle + self.ended_active + self.ended_fin + self.ended_forced + self.evicted
    }
}

const NIL: u32 = u32::MAX;

/// A hash seed per table: the keys are addresses and ports anyone can send, so a fixed,
/// public seed would let crafted traffic collide on purpose. Rows do not depend on it
/// (they come out in the order of the recency list).
fn seed() -> u64 {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let here = &nanos as *const u64 as u64;
    nanos ^ here.rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15
}

struct Slot {
    key: FlowKey,
    flow: Flow,
}

/// A flow's place in the recency list.
#[derive(Clone, Copy)]
struct Link {
    /// Toward the more recently seen flow.
    newer: u32,
    older: u32,
}

/// Packets to flows, bounded in flows.
pub struct FlowTable {
    cfg: TableConfig,
    /// The `exporter` of the rows: the capturing host, as the user names it.
    observer: Addr16,
    /// Slab positions, hashed by their slot's key.
    index: HashTable<u32>,
    hasher: FixedState,
    slots: Vec<Slot>,
    /// Parallel to `slots`.
    links: Vec<Link>,
    free: Vec<u32>,
    newest: u32,
    oldest: u32,
    pub stats: TableStats,
}

impl FlowTable {
    pub fn new(cfg: TableConfig, observer: Addr16) -> FlowTable {
        let cfg = TableConfig { max_flows: cfg.max_flows.clamp(1, NIL as usize - 1), ..cfg };
        FlowTable {
            cfg,
            observer,
            index: HashTable::with_capacity(cfg.max_flows.min(1 << 16)),
            hasher: FixedState::with_seed(seed()),
            slots: Vec::new(),
            links: Vec::new(),
            free: Vec::new(),
            newest: NIL,
            oldest: NIL,
            stats: TableStats::default(),
        }
    }

    /// Flows held now.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Adds a dissected packet captured at `ts_us`; rows of flows that end go to `out`.
    pub fn add(&mut self, d: &Dissection, ts_us: i64, out: &mut FlowBuilders) {
        self.stats.packets += 1;
        let Some(key) = FlowKey::of(d) else {
            self.stats.non_ip_packets += 1;
            return;
        };
        self.expire(ts_us, out);
        let at = match self.find(&key) {
            Some(at) => {
                let flow = &mut self.slots[at as usize].flow;
                if ts_us - flow.first_us >= self.cfg.active_us {
                    let row = flow.row(&key, self.observer, EndReason::Active);
                    out.append(&row, []);
                    self.stats.ended(EndReason::Active);
                    flow.restart(d, ts_us);
                }
                self.touch(at);
                at
            }
            None => self.insert(key, Flow::start(d, ts_us), out),
        };
        if d.transport.is_some_and(|t| t.tcp_flags & tcp::flags::SYN != 0 && t.mss.is_some()) {
            self.link_mss(&key, at, d);
        }
        if self.slots[at as usize].flow.add(d, ts_us) {
            self.end(at, EndReason::EndOfFlow, out);
        }
    }

    /// A SYN's MSS limits what the other side sends: hand it to the reverse flow, and take
    /// the reverse flow's for this one.
    fn link_mss(&mut self, key: &FlowKey, at: u32, d: &Dissection) {
        let mss = d.transport.and_then(|t| t.mss);
        if let Some(rev) = self.find(&key.reversed()) {
            let theirs = self.slots[rev as usize].flow.mss;
            self.slots[rev as usize].flow.peer_mss = mss;
            self.slots[at as usize].flow.peer_mss = theirs.or(self.slots[at as usize].flow.peer_mss);
        }
    }

    /// Writes out flows idle since before `now_us - idle`. Live capture calls this on a
    /// timer too, so a quiet link still ends its flows.
    pub fn expire(&mut self, now_us: i64, out: &mut FlowBuilders) {
        while self.oldest != NIL {
            let last = self.slots[self.oldest as usize].flow.last_us;
            if now_us - last < self.cfg.idle_us {
                break;
            }
            self.end(self.oldest, EndReason::Idle, out);
        }
    }

    /// Writes out every flow (end of a capture, shutdown), oldest first.
    pub fn flush(&mut self, out: &mut FlowBuilders) {
        let mut at = self.oldest;
        while at != NIL {
            let slot = &self.slots[at as usize];
            out.append(&slot.flow.row(&slot.key, self.observer, EndReason::Forced), []);
            self.stats.ended(EndReason::Forced);
            at = self.links[at as usize].newer;
        }
        // All at once rather than flow by flow: the table is emptied, not thinned.
        self.index.clear();
        self.slots.clear();
        self.links.clear();
        self.free.clear();
        (self.newest, self.oldest) = (NIL, NIL);
    }

    fn hash(&self, key: &FlowKey) -> u64 {
        self.hasher.hash_one(key)
    }

    fn find(&self, key: &FlowKey) -> Option<u32> {
        let slots = &self.slots;
        self.index.find(self.hash(key), |&at| slots[at as usize].key == *key).copied()
    }

    fn insert(&mut self, key: FlowKey, flow: Flow, out: &mut FlowBuilders) -> u32 {
        if self.index.len() >= self.cfg.max_flows {
            self.end(self.oldest, EndReason::Evicted, out);
        }
        let slot = Slot { key, flow };
        let at = match self.free.pop() {
            Some(at) => {
                self.slots[at as usize] = slot;
                at
            }
            None => {
                self.slots.push(slot);
                self.links.push(Link { newer: NIL, older: NIL });
                (self.slots.len() - 1) as u32
            }
        };
        let hash = self.hash(&key);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(hash, at, |&i| hasher.hash_one(slots[i as usize].key));
        self.link_newest(at);
        self.stats.flows_created += 1;
        at
    }

    fn end(&mut self, at: u32, reason: EndReason, out: &mut FlowBuilders) {
        let slot = &self.slots[at as usize];
        out.append(&slot.flow.row(&slot.key, self.observer, reason), []);
        self.stats.ended(reason);
        let hash = self.hash(&slot.key);
        if let Ok(entry) = self.index.find_entry(hash, |&i| i == at) {
            entry.remove();
        }
        self.unlink(at);
        self.free.push(at);
    }

    fn touch(&mut self, at: u32) {
        if self.newest != at {
            self.unlink(at);
            self.link_newest(at);
        }
    }

    fn link_newest(&mut self, at: u32) {
        self.links[at as usize] = Link { newer: NIL, older: self.newest };
        if self.newest != NIL {
            self.links[self.newest as usize].newer = at;
        }
        self.newest = at;
        if self.oldest == NIL {
            self.oldest = at;
        }
    }

    fn unlink(&mut self, at: u32) {
        let Link { newer, older } = self.links[at as usize];
        match newer {
            NIL => self.newest = older,
            n => self.links[n as usize].older = older,
        }
        match older {
            NIL => self.oldest = newer,
            o => self.links[o as usize].newer = newer,
        }
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
