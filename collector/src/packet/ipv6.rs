//! IPv6 headers (RFC 8200): the fixed header, the walk over extension headers to the
//! upper-layer protocol, and the fragment header.

use super::{Error, Layer, Result, array, be16, be32, ip_protocol as proto, put16, put32};

mod field {
    use crate::packet::Field;
    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// Most extension headers the walk follows before giving up on a packet.
pub const MAX_EXTENSIONS: usize = 8;

/// A view of an IPv6 packet. The payload may be cut short by the capture.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated(Layer::Ipv6));
        }
        if b[0] >> 4 != 6 {
            return Err(Error::Version(Layer::Ipv6));
        }
        Ok(Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn traffic_class(&self) -> u8 {
        (be16(self.buffer.as_ref(), 0) >> 4) as u8
    }

    pub fn flow_label(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VER_TC_FLOW.start) & 0x000F_FFFF
    }

    /// The payload length field (0 for jumbograms and BIG TCP captures).
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// The packet's IP length as an IPv6 MTU counts it: fixed header plus payload.
    pub fn total_len(&self) -> u32 {
        HEADER_LEN as u32 + self.payload_len() as u32
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    pub fn src_addr(&self) -> [u8; 16] {
        array(self.buffer.as_ref(), field::SRC_ADDR.start)
    }

    pub fn dst_addr(&self) -> [u8; 16] {
        array(self.buffer.as_ref(), field::DST_ADDR.start)
    }

    pub fn is_truncated(&self) -> bool {
        self.buffer.as_ref().len() < self.total_len() as usize
    }
}

/// The extension header types the walk steps over (RFC 8200 §4, RFC 7045).
pub fn is_extension(next: u8) -> bool {
    matches!(
        next,
        proto::HOP_BY_HOP
            | proto::ROUTING
            | proto::FRAGMENT
            | proto::DST_OPTS
            | proto::AH
            | proto::MOBILITY
            | proto::HIP
            | proto::SHIM6
    )
}

/// Where the extension headers end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpperLayer<'a> {
    /// The upper-layer protocol (TCP, UDP, ICMPv6, 4, 41, 47, 59 no next header, ...).
    pub protocol: u8,
    pub payload: &'a [u8],
    /// The fragment header, when the packet is a fragment.
    pub fragment: Option<FragmentRepr>,
    /// Bytes of extension headers.
    pub ext_len: usize,
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// Everything after the fixed header, up to the payload length or the capture's end.
    pub fn payload(&self) -> &'a [u8] {
        let buffer: &'a T = self.buffer;
        let b = buffer.as_ref();
        let len = self.payload_len() as usize;
        let end = if len == 0 { b.len() } else { (HEADER_LEN + len).min(b.len()) };
        &b[HEADER_LEN..end]
    }

    /// Walks the extension headers to the upper layer (at most [`MAX_EXTENSIONS`]).
    pub fn upper_layer(&self) -> Result<UpperLayer<'a>> {
        let mut next = self.next_header();
        let mut rest = self.payload();
        let mut fragment = None;
        let mut ext_len = 0usize;
        // One more turn than the bound: after the last allowed header, the upper layer.
        for _ in 0..=MAX_EXTENSIONS {
            if !is_extension(next) {
                return Ok(UpperLayer { protocol: next, payload: rest, fragment, ext_len });
            }
            let (len, following) = if next == proto::FRAGMENT {
                let f = Fragment::new_checked(rest)?;
                fragment = Some(FragmentRepr::parse(&f)?);
                (FRAGMENT_LEN, f.next_header())
            } else {
                let e = Extension::new_checked(rest, next)?;
                (e.header_len(), e.next_header())
            };
            rest = &rest[len..];
            ext_len += len;
            next = following;
            // The upper layer of a non-first fragment is not in this packet.
            if fragment.is_some_and(|f| f.offset != 0) {
                return Ok(UpperLayer { protocol: next, payload: rest, fragment, ext_len });
            }
        }
        Err(Error::Unsupported(Layer::Ipv6Extension))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let v = (6 << 28) | ((traffic_class as u32) << 20) | (flow_label & 0x000F_FFFF);
        put32(self.buffer.as_mut(), field::VER_TC_FLOW.start, v);
    }

    pub fn set_payload_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::LENGTH.start, v);
    }

    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = v;
    }

    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    pub fn set_src_addr(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a);
    }

    pub fn set_dst_addr(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// The parsed fixed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub src_addr: [u8; 16],
    pub dst_addr: [u8; 16],
    pub next_header: u8,
    pub traffic_class: u8,
    pub flow_label: u32,
    pub hop_limit: u8,
    pub payload_len: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        Ok(Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            next_header: p.next_header(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
            hop_limit: p.hop_limit(),
            payload_len: p.payload_len(),
        })
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_version_tc_flow(self.traffic_class, self.flow_label);
        p.set_payload_len(self.payload_len);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
    }
}

/// A view of a generic extension header (hop-by-hop, routing, destination options, AH, ...).
#[derive(Clone, Copy, Debug)]
pub struct Extension<T: AsRef<[u8]>> {
    buffer: T,
    /// AH counts its length in 4-byte units (RFC 4302), the others in 8-byte units.
    is_ah: bool,
}

impl<T: AsRef<[u8]>> Extension<T> {
    /// A view once the whole header, as its length byte declares it, is present.
    pub fn new_checked(buffer: T, kind: u8) -> Result<Self> {
        let e = Extension { buffer, is_ah: kind == proto::AH };
        let b = e.buffer.as_ref();
        if b.len() < 2 || b.len() < e.header_len() {
            return Err(Error::Truncated(Layer::Ipv6Extension));
        }
        Ok(e)
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    pub fn header_len(&self) -> usize {
        let n = *self.buffer.as_ref().get(1).unwrap_or(&0) as usize;
        if self.is_ah { (n + 2) * 4 } else { (n + 1) * 8 }
    }
}

mod frag_field {
    use crate::packet::Field;
    pub const NXT_HDR: usize = 0;
    pub const OFFSET_M: Field = 2..4;
    pub const IDENT: Field = 4..8;
}

/// Length of the fragment header.
pub const FRAGMENT_LEN: usize = frag_field::IDENT.end;

/// A view of the fragment header (next header 44).
#[derive(Clone, Copy, Debug)]
pub struct Fragment<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Fragment<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Fragment { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < FRAGMENT_LEN {
            return Err(Error::Truncated(Layer::Ipv6Extension));
        }
        Ok(Fragment { buffer })
    }

    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[frag_field::NXT_HDR]
    }

    /// Offset in bytes.
    pub fn offset(&self) -> u16 {
        be16(self.buffer.as_ref(), frag_field::OFFSET_M.start) & 0xFFF8
    }

    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), frag_field::OFFSET_M.start) & 1 != 0
    }

    pub fn ident(&self) -> u32 {
        be32(self.buffer.as_ref(), frag_field::IDENT.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Fragment<T> {
    fn set_fields(&mut self, r: &FragmentRepr) {
        let b = self.buffer.as_mut();
        b[frag_field::NXT_HDR] = r.next_header;
        b[1] = 0;
        put16(b, frag_field::OFFSET_M.start, (r.offset & 0xFFF8) | r.more_frags as u16);
        put32(b, frag_field::IDENT.start, r.ident);
    }
}

/// The parsed fragment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentRepr {
    pub next_header: u8,
    pub offset: u16,
    pub more_frags: bool,
    pub ident: u32,
}

impl FragmentRepr {
    pub fn parse<T: AsRef<[u8]>>(f: &Fragment<T>) -> Result<FragmentRepr> {
        Ok(FragmentRepr {
            next_header: f.next_header(),
            offset: f.offset(),
            more_frags: f.more_frags(),
            ident: f.ident(),
        })
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, f: &mut Fragment<T>) {
        f.set_fields(self);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn repr(next_header: u8, payload_len: u16) -> Repr {
        let mut src = [0u8; 16];
        src[..2].copy_from_slice(&[0x20, 0x01]);
        src[15] = 1;
        let mut dst = src;
        dst[15] = 2;
        Repr {
            src_addr: src,
            dst_addr: dst,
            next_header,
            traffic_class: 0x28,
            flow_label: 0xBEEF5,
            hop_limit: 64,
            payload_len,
        }
    }

    #[test]
    fn round_trips() {
        let r = repr(proto::UDP, 8);
        let mut buf = [0u8; 48];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), r);
        assert_eq!((p.payload().len(), p.total_len()), (8, 48));
    }

    #[test]
    fn fragment_round_trips() {
        let r = FragmentRepr { next_header: proto::UDP, offset: 1448, more_frags: true, ident: 0xDEADBEEF };
        let mut buf = [0u8; 8];
        r.emit(&mut Fragment::new_unchecked(&mut buf[..]));
        assert_eq!(FragmentRepr::parse(&Fragment::new_checked(&buf[..]).unwrap()).unwrap(), r);
    }

    fn with_extensions(exts: &[(u8, &[u8])], upper: u8) -> Vec<u8> {
        let body: usize = exts.iter().map(|(_, b)| b.len()).sum();
        let first = exts.first().map_or(upper, |e| e.0);
        let mut buf = vec![0u8; HEADER_LEN];
        repr(first, body as u16 + 4).emit(&mut Packet::new_unchecked(&mut buf[..]));
        for (i, (_, b)) in exts.iter().enumerate() {
            let mut h = b.to_vec();
            h[0] = exts.get(i + 1).map_or(upper, |e| e.0);
            buf.extend(h);
        }
        buf.extend([1, 2, 3, 4]);
        buf
    }

    #[test]
    fn walks_extensions_to_the_upper_layer() {
        let hbh = [0u8, 0, 1, 4, 0, 0, 0, 0];
        let frag = [0u8, 0, 0, 1, 0, 0, 0, 9];
        let buf = with_extensions(&[(proto::HOP_BY_HOP, &hbh), (proto::FRAGMENT, &frag)], proto::UDP);
        let p = Packet::new_checked(&buf[..]).unwrap();
        let up = p.upper_layer().unwrap();
        assert_eq!((up.protocol, up.payload, up.ext_len), (proto::UDP, &[1, 2, 3, 4][..], 16));
        assert_eq!(up.fragment.unwrap().ident, 9);
        assert!(up.fragment.unwrap().more_frags);
    }

    #[test]
    fn a_later_fragment_stops_the_walk() {
        let frag = [0u8, 0, 0x05, 0xA8, 0, 0, 0, 1];
        let buf = with_extensions(&[(proto::FRAGMENT, &frag)], proto::TCP);
        let up = Packet::new_checked(&buf[..]).unwrap().upper_layer().unwrap();
        assert_eq!((up.protocol, up.fragment.unwrap().offset), (proto::TCP, 1448));
    }

    #[test]
    fn bad_extension_chains_are_errors() {
        let long = [0u8, 200, 0, 0, 0, 0, 0, 0];
        let buf = with_extensions(&[(proto::DST_OPTS, &long)], proto::UDP);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.upper_layer().unwrap_err(), Error::Truncated(Layer::Ipv6Extension));
        let hbh = [0u8; 8];
        let chain: Vec<(u8, &[u8])> = (0..9).map(|_| (proto::HOP_BY_HOP, &hbh[..])).collect();
        let buf = with_extensions(&chain, proto::UDP);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.upper_layer().unwrap_err(), Error::Unsupported(Layer::Ipv6Extension));
        assert_eq!(Packet::new_checked(&[0x40u8; 40][..]).unwrap_err(), Error::Version(Layer::Ipv6));
    }
}
