//! Hostile input: mutated real datagrams through one stateful decoder. No panic, no
//! runaway memory; every record still appended is a complete row.
//! (The coverage-guided fuzz target in `collector/fuzz` runs the same entry point.)

use plumb_collector::netflow::{Decoder, DecoderConfig};
use plumb_collector::schema::FlowBuilders;

fn seeds() -> Vec<Vec<u8>> {
    // The public corpus in the repository (fixtures/public, see fixtures/MANIFEST.md).
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/public/logstash-codec-netflow");
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "dat"))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    out.sort();
    out
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut m = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        if m.is_empty() {
            break;
        }
        let at = rng.below(m.len());
        match rng.below(6) {
            0 => m[at] ^= 1 << rng.below(8),
            1 => m[at] = rng.next() as u8,
            2 => {
                // 16-bit boundary values where lengths and counts live
                let v: [u8; 2] = [[0, 0], [0xff, 0xff], [0x7f, 0xff], [0, 1], [0, 4]][rng.below(5)];
                let end = (at + 2).min(m.len());
                m[at..end].copy_from_slice(&v[..end - at]);
            }
            3 => m.truncate(at),
            4 => {
                let n = rng.below(16);
                let v: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                m.splice(at..at, v);
            }
            _ => {
                let len = rng.below(64).min(m.len() - at);
                m.drain(at..at + len);
            }
        }
    }
    m
}

#[test]
fn mutated_datagrams_never_panic() {
    let seeds = seeds();
    assert!(seeds.len() > 50);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut dec = Decoder::new(DecoderConfig::default());
    let mut out = FlowBuilders::with_capacity(1024);
    let mut rows = 0;
    for i in 0..60_000 {
        let seed = &seeds[rng.below(seeds.len())];
        let m = mutate(&mut rng, seed);
        // Vary the exporter a little so state is shared and also kept apart.
        let exporter = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, (i % 4) as u8];
        dec.decode(&m, exporter, 1_700_000_000_000_000, &mut out);
        if out.len() > 512 {
            rows += out.finish().num_rows();
        }
    }
    rows += out.finish().num_rows();
    assert!(rows > 1000, "mutations of valid input still decode most records ({rows})");
    assert!(dec.stats.total_errors() > 0);
    assert!(dec.pending_sets() <= DecoderConfig::default().pending_max_sets);
}
