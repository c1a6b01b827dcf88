//! IPv4 headers (RFC 791): the fields MTU work needs (total length, DF/MF, fragment
//! offset) and the payload bounded by the total length.

use super::{Error, Layer, Result, array, be16, checksum, put16};

mod field {
    use crate::packet::Field;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

const DF: u16 = 0x4000;
const MF: u16 = 0x2000;
const OFFSET: u16 = 0x1FFF;

/// A view of an IPv4 packet. The payload may be cut short by the capture; the header may not.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// A view once the version is 4, the header length is at least 20 bytes and present,
    /// and the total length (unless 0, which TSO and BIG TCP captures write) covers the
    /// header.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Packet { buffer };
        p.check()?;
        Ok(p)
    }

    fn check(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated(Layer::Ipv4));
        }
        if self.version() != 4 {
            return Err(Error::Version(Layer::Ipv4));
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(Error::Length(Layer::Ipv4));
        }
        if b.len() < hl {
            return Err(Error::Truncated(Layer::Ipv4));
        }
        let total = self.total_len() as usize;
        if total != 0 && total < hl {
            return Err(Error::Length(Layer::Ipv4));
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0F) as usize * 4
    }

    /// DSCP and ECN.
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    /// The total length field: header and payload, what an IP MTU is compared with.
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }

    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT.start)
    }

    fn flags_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLG_OFF.start)
    }

    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & DF != 0
    }

    pub fn more_frags(&self) -> bool {
        self.flags_offset() & MF != 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (self.flags_offset() & OFFSET) << 3
    }

    /// Whether this is a fragment (MF set or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        self.flags_offset() & (MF | OFFSET) != 0
    }

    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    pub fn src_addr(&self) -> [u8; 4] {
        array(self.buffer.as_ref(), field::SRC_ADDR.start)
    }

    pub fn dst_addr(&self) -> [u8; 4] {
        array(self.buffer.as_ref(), field::DST_ADDR.start)
    }

    /// Whether the header checksum is right (captures of offloading hosts often have 0).
    pub fn verify_checksum(&self) -> bool {
        checksum(&self.buffer.as_ref()[..self.header_len()]) == 0
    }

    /// Whether the capture holds fewer bytes than the total length says.
    pub fn is_truncated(&self) -> bool {
        self.buffer.as_ref().len() < self.total_len() as usize
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    pub fn options(&self) -> &'a [u8] {
        let buffer: &'a T = self.buffer;
        &buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The payload as captured: up to the total length, or to the end of the buffer when
    /// the capture cut it (or the total length is 0).
    pub fn payload(&self) -> &'a [u8] {
        let buffer: &'a T = self.buffer;
        let b = buffer.as_ref();
        let total = self.total_len() as usize;
        let end = if total == 0 { b.len() } else { total.min(b.len()) };
        &b[self.header_len()..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | (header_len / 4) as u8 & 0x0F;
    }

    pub fn set_tos(&mut self, v: u8) {
        self.buffer.as_mut()[field::TOS] = v;
    }

    pub fn set_total_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::LENGTH.start, v);
    }

    pub fn set_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::IDENT.start, v);
    }

    pub fn set_flags_offset(&mut self, df: bool, mf: bool, offset_bytes: u16) {
        let v = if df { DF } else { 0 } | if mf { MF } else { 0 } | (offset_bytes >> 3) & OFFSET;
        put16(self.buffer.as_mut(), field::FLG_OFF.start, v);
    }

    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v;
    }

    pub fn set_src_addr(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a);
    }

    pub fn set_dst_addr(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a);
    }

    /// Writes the header checksum over the header as it stands.
    pub fn fill_checksum(&mut self) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, 0);
        let hl = self.header_len();
        let sum = checksum(&self.buffer.as_ref()[..hl]);
        put16(self.buffer.as_mut(), field::CHECKSUM.start, sum);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }
}

/// The parsed IPv4 header (options are kept only as their length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub src_addr: [u8; 4],
    pub dst_addr: [u8; 4],
    pub protocol: u8,
    pub tos: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    pub frag_offset: u16,
    pub ttl: u8,
    pub header_len: usize,
    /// The total length field.
    pub total_len: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        Ok(Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            protocol: p.protocol(),
            tos: p.tos(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            more_frags: p.more_frags(),
            frag_offset: p.frag_offset(),
            ttl: p.ttl(),
            header_len: p.header_len(),
            total_len: p.total_len(),
        })
    }

    /// Writes the header (options zeroed) and its checksum.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_version_and_header_len(self.header_len);
        p.set_tos(self.tos);
        p.set_total_len(self.total_len);
        p.set_ident(self.ident);
        p.set_flags_offset(self.dont_frag, self.more_frags, self.frag_offset);
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        p.buffer.as_mut()[HEADER_LEN..self.header_len].fill(0);
        p.fill_checksum();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn repr(protocol: u8, payload_len: usize) -> Repr {
        Repr {
            src_addr: [10, 0, 0, 1],
            dst_addr: [10, 0, 0, 2],
            protocol,
            tos: 0xB8,
            ident: 0x1234,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            ttl: 64,
            header_len: HEADER_LEN,
            total_len: (HEADER_LEN + payload_len) as u16,
        }
    }

    #[test]
    fn round_trips_with_checksum() {
        let r = repr(17, 4);
        let mut buf = [0u8; 24];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), r);
        assert!(p.verify_checksum());
        assert_eq!(p.payload().len(), 4);
        assert!(p.dont_frag() && !p.is_fragment());
    }

    #[test]
    fn options_and_fragments() {
        let r = Repr {
            header_len: 28,
            total_len: 28,
            more_frags: true,
            frag_offset: 1480,
            dont_frag: false,
            ..repr(17, 0)
        };
        let mut buf = [0u8; 28];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!((p.options().len(), p.frag_offset(), p.is_fragment()), (8, 1480, true));
        assert_eq!(Repr::parse(&p).unwrap(), r);
    }

    #[test]
    fn payload_is_cut_by_the_capture_or_the_length() {
        let mut buf = [0u8; 40];
        repr(6, 40).emit(&mut Packet::new_unchecked(&mut buf[..]));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.is_truncated());
        assert_eq!(p.payload().len(), 20);
        repr(6, 4).emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(Packet::new_checked(&buf[..]).unwrap().payload().len(), 4);
    }

    #[test]
    fn malformed_headers_are_typed_errors() {
        let mut buf = [0u8; 24];
        repr(6, 4).emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(Packet::new_checked(&buf[..19]).unwrap_err(), Error::Truncated(Layer::Ipv4));
        let mut v = buf;
        v[0] = 0x65;
        assert_eq!(Packet::new_checked(&v[..]).unwrap_err(), Error::Version(Layer::Ipv4));
        v[0] = 0x44;
        assert_eq!(Packet::new_checked(&v[..]).unwrap_err(), Error::Length(Layer::Ipv4));
        v[0] = 0x47;
        assert_eq!(Packet::new_checked(&v[..]).unwrap_err(), Error::Truncated(Layer::Ipv4));
        let mut v = buf;
        v[2..4].copy_from_slice(&10u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&v[..]).unwrap_err(), Error::Length(Layer::Ipv4));
    }
}
