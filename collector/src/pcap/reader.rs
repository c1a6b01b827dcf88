//! Reading pcap and pcapng files, told apart by their magic bytes, frame by frame with
//! the link type and capture time of each.

use std::io::Read;

use pcap_parser::nom;
use pcap_parser::pcapng::{Block, parse_block_be, parse_block_le, parse_sectionheaderblock};
use pcap_parser::{
    PcapBlockOwned, PcapError, create_reader, parse_pcap_frame, parse_pcap_frame_be, parse_pcap_header,
};

/// Reader buffer; a block larger than [`MAX_BLOCK`] is refused as malformed.
const BUFFER: usize = 1 << 20;
const MAX_BLOCK: usize = 16 << 20;
const TOO_LARGE: &str = "block larger than 16 MiB";
/// pcapng files may declare interfaces; a hostile file must not grow this without bound.
const MAX_INTERFACES: usize = 4096;

/// One captured frame.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Capture time, µs since the epoch.
    pub ts_us: i64,
    /// pcap link type (1 Ethernet, 0 BSD loopback, 101 raw IP, 113 Linux cooked, ...).
    pub linktype: i32,
    pub data: &'a [u8],
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("not a pcap or pcapng file")]
    NotACapture,
    #[error("malformed capture after {frames} frames: {detail}")]
    Malformed { frames: u64, detail: String },
    #[error("reading the capture failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Whether `head` starts with a pcap or pcapng magic number.
pub fn is_capture(head: &[u8]) -> bool {
    matches!(
        head.get(..4),
        Some([0xd4, 0xc3, 0xb2, 0xa1])
            | Some([0xa1, 0xb2, 0xc3, 0xd4])
            | Some([0x4d, 0x3c, 0xb2, 0xa1])
            | Some([0xa1, 0xb2, 0x3c, 0x4d])
            | Some([0x0a, 0x0d, 0x0d, 0x0a])
    )
}

struct Interface {
    linktype: i32,
    resolution: u64,
    offset: u64,
}

/// A pcapng timestamp in µs since the epoch. pcap-parser's own conversion adds the
/// interface's offset without a bound and overflows (a panic in a debug build) on a crafted
/// file; this saturates instead.
fn ng_time_us(high: u32, low: u32, i: &Interface) -> i64 {
    let ts = ((high as u64) << 32) | low as u64;
    let secs = (ts / i.resolution).saturating_add(i.offset);
    let frac_us = ((ts % i.resolution) as u128 * 1_000_000 / i.resolution as u128) as u64;
    secs.saturating_mul(1_000_000).saturating_add(frac_us).min(i64::MAX as u64) as i64
}

/// The state a walk over blocks keeps: the link type and time unit of a classic file, the
/// interfaces of a pcapng section, and the frames handed out.
#[derive(Default)]
struct Blocks {
    legacy: Option<(i32, bool)>,
    ifaces: Vec<Interface>,
    frames: u64,
}

impl Blocks {
    fn block(&mut self, block: PcapBlockOwned<'_>, f: &mut impl FnMut(Frame<'_>)) {
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                self.legacy = Some((h.network.0, h.is_nanosecond_precision()));
            }
            PcapBlockOwned::Legacy(b) => {
                let (linktype, nanos) = self.legacy.unwrap_or((1, false));
                let frac = if nanos { b.ts_usec as i64 / 1000 } else { b.ts_usec as i64 };
                self.frames += 1;
                f(Frame { ts_us: b.ts_sec as i64 * 1_000_000 + frac, linktype, data: b.data });
            }
            PcapBlockOwned::NG(Block::SectionHeader(_)) => self.ifaces.clear(),
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                if self.ifaces.len() < MAX_INTERFACES {
                    self.ifaces.push(Interface {
                        linktype: idb.linktype.0,
                        resolution: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                        offset: idb.ts_offset().max(0) as u64,
                    });
                }
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                if let Some(i) = self.ifaces.get(epb.if_id as usize) {
                    let len = (epb.caplen as usize).min(epb.data.len());
                    self.frames += 1;
                    f(Frame {
                        ts_us: ng_time_us(epb.ts_high, epb.ts_low, i),
                        linktype: i.linktype,
                        data: &epb.data[..len],
                    });
                }
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                if let Some(i) = self.ifaces.first() {
                    let len = (spb.origlen as usize).min(spb.data.len());
                    self.frames += 1;
                    f(Frame { ts_us: 0, linktype: i.linktype, data: &spb.data[..len] });
                }
            }
            PcapBlockOwned::NG(_) => {}
        }
    }

    fn malformed(&self, detail: String) -> CaptureError {
        CaptureError::Malformed { frames: self.frames, detail }
    }
}

/// Calls `f` for every frame of a pcap or pcapng stream, in file order. Returns the number
/// of frames. A truncated last block ends the stream quietly (captures are often cut).
pub fn for_each_frame<R: Read + Send>(reader: R, mut f: impl FnMut(Frame<'_>)) -> Result<u64, CaptureError> {
    let mut rdr = create_reader(BUFFER, reader).map_err(|_| CaptureError::NotACapture)?;
    let mut blocks = Blocks::default();
    loop {
        match rdr.next() {
            Ok((offset, block)) => {
                blocks.block(block, &mut f);
                rdr.consume(offset);
            }
            Err(PcapError::Eof) => break,
            // BufferTooSmall: the block claims more than the buffer holds; read on as for
            // any incomplete block (a cut file ends quietly, a large block grows the buffer).
            Err(PcapError::Incomplete(_) | PcapError::BufferTooSmall) => {
                if rdr.reader_exhausted() {
                    break;
                }
                let before = rdr.data().len();
                rdr.refill().map_err(|e| blocks.malformed(format!("{e:?}")))?;
                if rdr.data().len() == before && rdr.reader_exhausted() {
                    // The capture ends inside a block: it was cut off; keep what was read.
                    break;
                }
                if rdr.data().len() == before {
                    // Buffer full and still incomplete: one block is larger than the buffer.
                    let grown = (before * 2).min(MAX_BLOCK);
                    if grown <= before || !rdr.grow(grown) {
                        return Err(blocks.malformed(TOO_LARGE.into()));
                    }
                    rdr.refill().map_err(|e| blocks.malformed(format!("{e:?}")))?;
                }
            }
            Err(e) => return Err(blocks.malformed(format!("{e:?}"))),
        }
    }
    Ok(blocks.frames)
}

/// How often [`for_each_frame_in`] reports the bytes it has walked past.
pub const PROGRESS_STEP: usize = 32 << 20;

/// [`for_each_frame`] over a capture already in memory (a mapped file): frames are slices
/// of `bytes`, with no copy through a reader's buffer (a fifth of ingest time on a VXLAN
/// capture went to the kernel's copy into it and pcap-parser's shifting of it).
/// `progress` receives the offset of the next block each time another
/// [`PROGRESS_STEP`] bytes have been walked, and at the end.
pub fn for_each_frame_in(
    bytes: &[u8],
    mut progress: impl FnMut(usize),
    mut f: impl FnMut(Frame<'_>),
) -> Result<u64, CaptureError> {
    let mut blocks = Blocks::default();
    let mut rem = bytes;
    let mut reported = 0;
    let ng = rem.starts_with(&SECTION_HEADER_MAGIC);
    let mut big_endian = false;
    if !ng {
        let (r, header) = parse_pcap_header(rem).map_err(|_| CaptureError::NotACapture)?;
        big_endian = header.is_bigendian();
        blocks.block(PcapBlockOwned::from(header), &mut f);
        rem = r;
    }
    while !rem.is_empty() {
        let parsed = match (ng, big_endian) {
            (false, false) => parse_pcap_frame(rem).map(|(r, b)| (r, PcapBlockOwned::from(b))),
            (false, true) => parse_pcap_frame_be(rem).map(|(r, b)| (r, PcapBlockOwned::from(b))),
            (true, _) if rem.starts_with(&SECTION_HEADER_MAGIC) => {
                parse_sectionheaderblock(rem).map(|(r, shb)| {
                    big_endian = shb.big_endian();
                    (r, PcapBlockOwned::from(Block::SectionHeader(shb)))
                })
            }
            (true, false) => parse_block_le(rem).map(|(r, b)| (r, PcapBlockOwned::from(b))),
            (true, true) => parse_block_be(rem).map(|(r, b)| (r, PcapBlockOwned::from(b))),
        };
        match parsed {
            // The streaming reader's bound, so both read the same files.
            Ok((r, _)) if rem.len() - r.len() > MAX_BLOCK => return Err(blocks.malformed(TOO_LARGE.into())),
            Ok((r, block)) => {
                rem = r;
                blocks.block(block, &mut f);
            }
            // A pcapng file without a whole section header is no capture at all.
            Err(nom::Err::Incomplete(_)) if ng && rem.len() == bytes.len() => {
                return Err(CaptureError::NotACapture);
            }
            Err(nom::Err::Incomplete(_)) if rem.len() > MAX_BLOCK => {
                return Err(blocks.malformed(TOO_LARGE.into()));
            }
            // The capture ends inside a block: it was cut off; keep what was read.
            Err(nom::Err::Incomplete(_)) => break,
            Err(nom::Err::Error(e) | nom::Err::Failure(e)) => return Err(blocks.malformed(format!("{e:?}"))),
        }
        let at = bytes.len() - rem.len();
        if at - reported >= PROGRESS_STEP {
            progress(at);
            reported = at;
        }
    }
    progress(bytes.len() - rem.len());
    Ok(blocks.frames)
}

/// The block type of a pcapng section header, the same in either byte order.
const SECTION_HEADER_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_pcapng_timestamps_saturate() {
        let i = Interface { linktype: 1, resolution: 1, offset: u64::MAX - 5 };
        assert_eq!(ng_time_us(u32::MAX, u32::MAX, &i), i64::MAX);
        let us = Interface { linktype: 1, resolution: 1_000_000, offset: 0 };
        assert_eq!(ng_time_us(0, 1_500_000, &us), 1_500_000);
    }

    /// (time, link type, bytes) of every frame a reader handed out, and its result.
    type ReaderRun = (Result<u64, String>, Vec<(i64, i32, Vec<u8>)>);

    /// Both readers on one file.
    fn both(file: &[u8]) -> [ReaderRun; 2] {
        let mut streamed = Vec::new();
        let r1 = for_each_frame(file, |f| streamed.push((f.ts_us, f.linktype, f.data.to_vec())));
        let mut mapped = Vec::new();
        let r2 = for_each_frame_in(file, |_| {}, |f| mapped.push((f.ts_us, f.linktype, f.data.to_vec())));
        [(r1.map_err(|e| e.to_string()), streamed), (r2.map_err(|e| e.to_string()), mapped)]
    }

    fn put32(out: &mut Vec<u8>, v: u32, be: bool) {
        out.extend(if be { v.to_be_bytes() } else { v.to_le_bytes() });
    }

    fn classic(be: bool, nanos: bool, frames: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        put32(&mut out, if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }, be);
        let version: [u8; 4] = if be { [0, 2, 0, 4] } else { [2, 0, 4, 0] };
        out.extend(version);
        for v in [0, 0, 65535, 101] {
            put32(&mut out, v, be);
        }
        for (sec, frac, data) in frames {
            for v in [*sec, *frac, data.len() as u32, data.len() as u32] {
                put32(&mut out, v, be);
            }
            out.extend(*data);
        }
        out
    }

    fn ng_block(out: &mut Vec<u8>, kind: u32, body: &[u8], be: bool) {
        let len = 12 + body.len().next_multiple_of(4) as u32;
        put32(out, kind, be);
        put32(out, len, be);
        out.extend(body);
        out.resize(out.len() + body.len().next_multiple_of(4) - body.len(), 0);
        put32(out, len, be);
    }

    fn pcapng(be: bool, frames: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut shb = Vec::new();
        put32(&mut shb, 0x1A2B_3C4D, be);
        shb.extend(if be { [0, 1, 0, 0] } else { [1, 0, 0, 0] });
        shb.extend([0xff; 8]);
        ng_block(&mut out, 0x0A0D_0D0A, &shb, be);
        let mut idb = Vec::new();
        idb.extend(if be { [0, 1, 0, 0] } else { [1, 0, 0, 0] });
        put32(&mut idb, 65535, be);
        ng_block(&mut out, 1, &idb, be);
        for (high, low, data) in frames {
            let mut epb = Vec::new();
            for v in [0, *high, *low, data.len() as u32, data.len() as u32] {
                put32(&mut epb, v, be);
            }
            epb.extend(*data);
            ng_block(&mut out, 6, &epb, be);
        }
        out
    }

    #[test]
    fn mapped_and_streamed_reading_agree_in_every_byte_order_and_cut() {
        let frames: &[(u32, u32, &[u8])] = &[(1_700_000_000, 500, b"\x45abcdef"), (1_700_000_001, 7, b"xyz")];
        let files = [
            classic(false, false, frames),
            classic(true, false, frames),
            classic(false, true, frames),
            classic(true, true, frames),
            pcapng(false, frames),
            pcapng(true, frames),
        ];
        for (n, file) in files.iter().enumerate() {
            let [streamed, mapped] = both(file);
            assert_eq!(streamed, mapped, "file {n}");
            assert_eq!(mapped.0, Ok(2), "file {n}");
            let linktype = if n < 4 { 101 } else { 1 };
            assert_eq!(mapped.1[1].1, linktype, "file {n}");
            assert_eq!(mapped.1[1].2, b"xyz", "file {n}");
            // Every cut ends the walk quietly after the last whole frame, in both readers.
            for cut in 0..file.len() {
                let [streamed, mapped] = both(&file[..cut]);
                assert_eq!(streamed.1, mapped.1, "file {n} cut at {cut}");
                assert_eq!(streamed.0.is_ok(), mapped.0.is_ok(), "file {n} cut at {cut}");
            }
        }
        // Classic times: µs as written, ns divided down.
        assert_eq!(both(&files[0])[1].1[0].0, 1_700_000_000_000_500);
        assert_eq!(both(&files[2])[1].1[1].0, 1_700_000_001_000_000);
    }

    #[test]
    fn a_last_frame_claiming_more_than_the_buffer_is_a_cut_file() {
        // Found by the read_captures fuzz target: pcap-parser says BufferTooSmall there, which
        // the streaming reader took for a malformed file while the mapped one read it as cut.
        let mut file = classic(false, false, &[(1, 0, b"abc")]);
        file.extend([0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3]);
        let [streamed, mapped] = both(&file);
        assert_eq!(streamed, mapped);
        assert_eq!(mapped.0, Ok(1));
    }

    #[test]
    fn mapped_reading_reports_progress_up_to_the_end() {
        let file = classic(false, false, &[(1, 0, &[0u8; 100])]);
        let mut seen = Vec::new();
        for_each_frame_in(&file, |at| seen.push(at), |_| {}).unwrap();
        assert_eq!(seen, [file.len()]);
    }

    #[test]
    fn magic_numbers() {
        assert!(is_capture(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]));
        assert!(is_capture(&[0x0a, 0x0d, 0x0d, 0x0a]));
        assert!(!is_capture(&[0, 10, 0, 0]));
    }
}
