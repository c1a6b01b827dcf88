//! Reading pcap and pcapng files (told apart by their magic bytes) and finding the UDP
//! datagrams in them. Used by `plumb ingest` and `plumb replay` for files of exported
//! datagrams; decoding tunnelled traffic lives in the packet layer.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError, create_reader};

/// Reader buffer; a block larger than [`MAX_BLOCK`] is refused as malformed.
const BUFFER: usize = 1 << 20;
const MAX_BLOCK: usize = 16 << 20;
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

/// Calls `f` for every frame of a pcap or pcapng stream, in file order. Returns the number
/// of frames. A truncated last block ends the stream quietly (captures are often cut).
pub fn for_each_frame<R: Read + Send>(reader: R, mut f: impl FnMut(Frame<'_>)) -> Result<u64, CaptureError> {
    let mut rdr = create_reader(BUFFER, reader).map_err(|_| CaptureError::NotACapture)?;
    let mut legacy: Option<(i32, bool)> = None;
    let mut ifaces: Vec<Interface> = Vec::new();
    let mut frames = 0u64;
    let malformed = |frames, detail: String| CaptureError::Malformed { frames, detail };
    loop {
        match rdr.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy = Some((h.network.0, h.is_nanosecond_precision()));
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let (linktype, nanos) = legacy.unwrap_or((1, false));
                        let frac = if nanos { b.ts_usec as i64 / 1000 } else { b.ts_usec as i64 };
                        frames += 1;
                        f(Frame { ts_us: b.ts_sec as i64 * 1_000_000 + frac, linktype, data: b.data });
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => ifaces.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        if ifaces.len() < MAX_INTERFACES {
                            ifaces.push(Interface {
                                linktype: idb.linktype.0,
                                resolution: idb.ts_resolution().unwrap_or(1_000_000).max(1),
                                offset: idb.ts_offset().max(0) as u64,
                            });
                        }
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        if let Some(i) = ifaces.get(epb.if_id as usize) {
                            let (secs, frac) = epb.decode_ts(i.offset, i.resolution);
                            let frac_us = (frac as u128 * 1_000_000 / i.resolution as u128) as i64;
                            let len = (epb.caplen as usize).min(epb.data.len());
                            frames += 1;
                            f(Frame {
                                ts_us: secs as i64 * 1_000_000 + frac_us,
                                linktype: i.linktype,
                                data: &epb.data[..len],
                            });
                        }
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        if let Some(i) = ifaces.first() {
                            let len = (spb.origlen as usize).min(spb.data.len());
                            frames += 1;
                            f(Frame { ts_us: 0, linktype: i.linktype, data: &spb.data[..len] });
                        }
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                rdr.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                if rdr.reader_exhausted() {
                    break;
                }
                let before = rdr.data().len();
                rdr.refill().map_err(|e| malformed(frames, format!("{e:?}")))?;
                if rdr.data().len() == before && rdr.reader_exhausted() {
                    // The capture ends inside a block: it was cut off; keep what was read.
                    break;
                }
                if rdr.data().len() == before {
                    // Buffer full and still incomplete: one block is larger than the buffer.
                    let grown = (before * 2).min(MAX_BLOCK);
                    if grown <= before || !rdr.grow(grown) {
                        return Err(malformed(frames, "block larger than 16 MiB".into()));
                    }
                    rdr.refill().map_err(|e| malformed(frames, format!("{e:?}")))?;
                }
            }
            Err(e) => return Err(malformed(frames, format!("{e:?}"))),
        }
    }
    Ok(frames)
}

/// A UDP datagram found in a frame.
#[derive(Clone, Copy, Debug)]
pub struct Udp<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: &'a [u8],
}

/// Finds the UDP datagram in a frame of the given link type; `None` for anything else
/// (including IP fragments other than the first, which carry no UDP header).
pub fn udp(linktype: i32, frame: &[u8]) -> Option<Udp<'_>> {
    let (ethertype, ip) = match linktype {
        1 => ethernet(frame)?,
        0 => {
            // BSD loopback: address family in host byte order.
            let fam = u32::from_le_bytes(frame.get(..4)?.try_into().ok()?);
            let fam = if fam > 0xFFFF { fam.swap_bytes() } else { fam };
            (if fam == 2 { 0x0800 } else { 0x86DD }, frame.get(4..)?)
        }
        108 => {
            let fam = u32::from_be_bytes(frame.get(..4)?.try_into().ok()?);
            (if fam == 2 { 0x0800 } else { 0x86DD }, frame.get(4..)?)
        }
        101 | 12 | 14 => (raw_ethertype(frame)?, frame),
        228 => (0x0800, frame),
        229 => (0x86DD, frame),
        113 => (u16::from_be_bytes(frame.get(14..16)?.try_into().ok()?), frame.get(16..)?),
        276 => (u16::from_be_bytes(frame.get(0..2)?.try_into().ok()?), frame.get(20..)?),
        _ => return None,
    };
    match ethertype {
        0x0800 => ipv4_udp(ip),
        0x86DD => ipv6_udp(ip),
        _ => None,
    }
}

fn raw_ethertype(ip: &[u8]) -> Option<u16> {
    match ip.first()? >> 4 {
        4 => Some(0x0800),
        6 => Some(0x86DD),
        _ => None,
    }
}

fn ethernet(frame: &[u8]) -> Option<(u16, &[u8])> {
    let mut pos = 12;
    let mut ethertype = u16::from_be_bytes(frame.get(pos..pos + 2)?.try_into().ok()?);
    pos += 2;
    // Up to two VLAN tags (802.1Q, QinQ).
    for _ in 0..2 {
        if matches!(ethertype, 0x8100 | 0x88A8 | 0x9100) {
            ethertype = u16::from_be_bytes(frame.get(pos + 2..pos + 4)?.try_into().ok()?);
            pos += 4;
        }
    }
    Some((ethertype, frame.get(pos..)?))
}

fn ipv4_udp(ip: &[u8]) -> Option<Udp<'_>> {
    let ihl = (*ip.first()? & 0x0F) as usize * 4;
    if ihl < 20 || ip.len() < ihl {
        return None;
    }
    let total = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    if ip[9] != 17 || frag & 0x1FFF != 0 {
        return None;
    }
    // A zero total length (TSO captures) means "as captured".
    let end = if total >= ihl { total.min(ip.len()) } else { ip.len() };
    let src = IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]));
    udp_header(src, dst, &ip[ihl..end])
}

fn ipv6_udp(ip: &[u8]) -> Option<Udp<'_>> {
    if ip.len() < 40 {
        return None;
    }
    let payload_len = u16::from_be_bytes([ip[4], ip[5]]) as usize;
    let end = if payload_len == 0 { ip.len() } else { (40 + payload_len).min(ip.len()) };
    let src = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).ok()?));
    let dst = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).ok()?));
    let (mut next, mut pos) = (ip[6], 40);
    // Hop-by-hop, routing and destination options may precede UDP; at most a few.
    for _ in 0..8 {
        match next {
            17 => return udp_header(src, dst, ip.get(pos..end)?),
            0 | 43 | 60 => {
                next = *ip.get(pos)?;
                pos += (*ip.get(pos + 1)? as usize + 1) * 8;
            }
            _ => return None,
        }
    }
    None
}

fn udp_header(src: IpAddr, dst: IpAddr, seg: &[u8]) -> Option<Udp<'_>> {
    if seg.len() < 8 {
        return None;
    }
    let src_port = u16::from_be_bytes([seg[0], seg[1]]);
    let dst_port = u16::from_be_bytes([seg[2], seg[3]]);
    let len = u16::from_be_bytes([seg[4], seg[5]]) as usize;
    let end = if len >= 8 { len.min(seg.len()) } else { seg.len() };
    Some(Udp { src, dst, src_port, dst_port, payload: &seg[8..end] })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth_ipv4_udp(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend([0x81, 0x00, 0, 5, 0x08, 0x00]);
        let total = (20 + 8 + payload.len()) as u16;
        f.extend([0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, 17, 0, 0]);
        f.extend([10, 0, 0, 1, 10, 0, 0, 2]);
        let ulen = (8 + payload.len()) as u16;
        f.extend([0x12, 0x34, 0x08, 0x07, (ulen >> 8) as u8, ulen as u8, 0, 0]);
        f.extend(payload);
        f.extend([0xEE; 4]); // Ethernet trailer/FCS beyond the IP length
        f
    }

    #[test]
    fn finds_udp_behind_a_vlan_tag_and_trims_the_trailer() {
        let frame = eth_ipv4_udp(b"\x00\x0ahello");
        let u = udp(1, &frame).unwrap();
        assert_eq!(u.dst_port, 2055);
        assert_eq!(u.src.to_string(), "10.0.0.1");
        assert_eq!(u.payload, b"\x00\x0ahello");
    }

    #[test]
    fn truncated_frames_are_not_udp() {
        let frame = eth_ipv4_udp(b"abc");
        for cut in 0..frame.len() - 7 {
            let _ = udp(1, &frame[..cut]);
        }
        assert!(udp(1, &frame[..20]).is_none());
    }

    #[test]
    fn magic_numbers() {
        assert!(is_capture(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]));
        assert!(is_capture(&[0x0a, 0x0d, 0x0d, 0x0a]));
        assert!(!is_capture(&[0, 10, 0, 0]));
    }
}
