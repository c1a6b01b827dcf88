//! Ethernet II frames and 802.1Q / 802.1ad VLAN tags.

use super::{Error, Layer, Result, array, be16, ethertype, put16};

/// A MAC address as six bytes.
pub type Mac = [u8; 6];

mod field {
    use crate::packet::{Field, Rest};
    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: Rest = 14..;
}

/// Length of an untagged Ethernet header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// A view of an Ethernet II frame (no FCS).
#[derive(Clone, Copy, Debug)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Frame { buffer }
    }

    /// A view of `buffer` once it holds the 14-byte header.
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated(Layer::Ethernet));
        }
        Ok(Frame { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn dst_addr(&self) -> Mac {
        array(self.buffer.as_ref(), field::DESTINATION.start)
    }

    pub fn src_addr(&self) -> Mac {
        array(self.buffer.as_ref(), field::SOURCE.start)
    }

    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ETHERTYPE.start)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Frame<&'a T> {
    pub fn payload(&self) -> &'a [u8] {
        let buffer: &'a T = self.buffer;
        &buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst_addr(&mut self, a: Mac) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&a);
    }

    pub fn set_src_addr(&mut self, a: Mac) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&a);
    }

    pub fn set_ethertype(&mut self, t: u16) {
        put16(self.buffer.as_mut(), field::ETHERTYPE.start, t);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// The parsed Ethernet header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub src_addr: Mac,
    pub dst_addr: Mac,
    pub ethertype: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<Repr> {
        Ok(Repr { src_addr: frame.src_addr(), dst_addr: frame.dst_addr(), ethertype: frame.ethertype() })
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        frame.set_src_addr(self.src_addr);
        frame.set_dst_addr(self.dst_addr);
        frame.set_ethertype(self.ethertype);
    }
}

mod tag_field {
    use crate::packet::{Field, Rest};
    pub const TCI: Field = 0..2;
    pub const ETHERTYPE: Field = 2..4;
    pub const PAYLOAD: Rest = 4..;
}

/// Length of one VLAN tag (after the TPID, which is the enclosing EtherType).
pub const TAG_LEN: usize = tag_field::PAYLOAD.start;

/// A view of one 802.1Q tag: the tag control information and the EtherType that follows.
#[derive(Clone, Copy, Debug)]
pub struct Tag<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Tag<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Tag { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < TAG_LEN {
            return Err(Error::Truncated(Layer::Vlan));
        }
        Ok(Tag { buffer })
    }

    /// Priority code point (802.1p).
    pub fn pcp(&self) -> u8 {
        self.buffer.as_ref()[0] >> 5
    }

    pub fn dei(&self) -> bool {
        self.buffer.as_ref()[0] & 0x10 != 0
    }

    /// The 12-bit VLAN id.
    pub fn vid(&self) -> u16 {
        be16(self.buffer.as_ref(), tag_field::TCI.start) & 0x0FFF
    }

    pub fn ethertype(&self) -> u16 {
        be16(self.buffer.as_ref(), tag_field::ETHERTYPE.start)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Tag<&'a T> {
    pub fn payload(&self) -> &'a [u8] {
        let buffer: &'a T = self.buffer;
        &buffer.as_ref()[tag_field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Tag<T> {
    pub fn set_tci(&mut self, pcp: u8, dei: bool, vid: u16) {
        let tci = ((pcp as u16 & 7) << 13) | ((dei as u16) << 12) | (vid & 0x0FFF);
        put16(self.buffer.as_mut(), tag_field::TCI.start, tci);
    }

    pub fn set_ethertype(&mut self, t: u16) {
        put16(self.buffer.as_mut(), tag_field::ETHERTYPE.start, t);
    }
}

/// The parsed VLAN tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TagRepr {
    pub pcp: u8,
    pub dei: bool,
    pub vid: u16,
    pub ethertype: u16,
}

impl TagRepr {
    pub fn parse<T: AsRef<[u8]>>(tag: &Tag<T>) -> Result<TagRepr> {
        Ok(TagRepr { pcp: tag.pcp(), dei: tag.dei(), vid: tag.vid(), ethertype: tag.ethertype() })
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, tag: &mut Tag<T>) {
        tag.set_tci(self.pcp, self.dei, self.vid);
        tag.set_ethertype(self.ethertype);
    }
}

/// Most tags the walk follows on one frame (QinQ and one more).
pub const MAX_TAGS: usize = 3;

/// What the link header of a frame says, with the VLAN tags stripped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct L2 {
    pub src_mac: Mac,
    pub dst_mac: Mac,
    /// The outer VLAN id, if tagged.
    pub vlan: Option<u16>,
    /// The inner (customer) VLAN id of a QinQ frame.
    pub inner_vlan: Option<u16>,
    pub tags: u8,
}

/// Reads an Ethernet header and its VLAN tags: the link facts, the EtherType of the
/// payload and the payload. More than [`MAX_TAGS`] tags is refused as malformed.
#[inline]
pub fn strip(frame: &[u8]) -> Result<(L2, u16, &[u8])> {
    let eth = Frame::new_checked(frame)?;
    let mut l2 = L2 { src_mac: eth.src_addr(), dst_mac: eth.dst_addr(), ..L2::default() };
    let (mut kind, mut rest) = (eth.ethertype(), &frame[HEADER_LEN..]);
    while ethertype::is_vlan(kind) {
        if l2.tags as usize == MAX_TAGS {
            return Err(Error::Unsupported(Layer::Vlan));
        }
        let tag = Tag::new_checked(rest)?;
        match l2.tags {
            0 => l2.vlan = Some(tag.vid()),
            1 => l2.inner_vlan = Some(tag.vid()),
            _ => {}
        }
        l2.tags += 1;
        kind = tag.ethertype();
        rest = &rest[TAG_LEN..];
    }
    Ok((l2, kind, rest))
}

/// Length of a Cisco MetaData header (version, length, option, SGT, EtherType).
pub const METADATA_LEN: usize = 8;

/// Reads a Cisco MetaData header (EtherType 0x8909, TrustSec): the security group tag, the
/// EtherType it announces and what follows. In an Ethernet frame the EtherType ends the
/// header (version, length, option, SGT, EtherType); inside GRE it leads it.
pub fn strip_metadata(bytes: &[u8], after_gre: bool) -> Result<(u16, u16, &[u8])> {
    if bytes.len() < METADATA_LEN {
        return Err(Error::Truncated(Layer::Ethernet));
    }
    let (sgt, kind) =
        if after_gre { (be16(bytes, 6), be16(bytes, 0)) } else { (be16(bytes, 4), be16(bytes, 6)) };
    Ok((sgt, kind, &bytes[METADATA_LEN..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Mac = [2, 0, 0, 0, 0, 1];
    const DST: Mac = [2, 0, 0, 0, 0, 2];

    #[test]
    fn header_round_trips() {
        let repr = Repr { src_addr: SRC, dst_addr: DST, ethertype: ethertype::IPV4 };
        let mut buf = [0u8; 18];
        repr.emit(&mut Frame::new_unchecked(&mut buf[..]));
        let frame = Frame::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&frame).unwrap(), repr);
        assert_eq!(frame.payload().len(), 4);
    }

    #[test]
    fn tag_round_trips() {
        let repr = TagRepr { pcp: 5, dei: true, vid: 4094, ethertype: ethertype::IPV6 };
        let mut buf = [0u8; 4];
        repr.emit(&mut Tag::new_unchecked(&mut buf[..]));
        assert_eq!(TagRepr::parse(&Tag::new_checked(&buf[..]).unwrap()).unwrap(), repr);
    }

    #[test]
    fn strips_qinq() {
        let mut f = vec![0u8; 12];
        f.extend([0x88, 0xA8, 0x00, 100, 0x81, 0x00, 0x00, 200, 0x08, 0x00, 0x45]);
        let (l2, kind, rest) = strip(&f).unwrap();
        assert_eq!((l2.vlan, l2.inner_vlan, l2.tags), (Some(100), Some(200), 2));
        assert_eq!((kind, rest), (ethertype::IPV4, &[0x45][..]));
    }

    #[test]
    fn cisco_metadata_announces_the_next_ethertype() {
        let b = [1, 1, 0, 1, 0, 42, 0x08, 0x00, 0x45];
        assert_eq!(strip_metadata(&b, false).unwrap(), (42, ethertype::IPV4, &[0x45][..]));
        assert_eq!(strip_metadata(&b[..7], false).unwrap_err(), Error::Truncated(Layer::Ethernet));
        // In GRE (as in the tcpdump corpus' various_gre.pcap) the EtherType comes first.
        let g = [0x08, 0x00, 1, 1, 0, 1, 0, 42, 0x45];
        assert_eq!(strip_metadata(&g, true).unwrap(), (42, ethertype::IPV4, &[0x45][..]));
    }

    #[test]
    fn short_and_over_tagged_frames_are_errors() {
        assert_eq!(strip(&[0; 13]).unwrap_err(), Error::Truncated(Layer::Ethernet));
        let mut f = vec![0u8; 12];
        f.extend([0x81, 0x00, 0, 1]);
        assert_eq!(strip(&f).unwrap_err(), Error::Truncated(Layer::Vlan));
        let mut f = vec![0u8; 12];
        for _ in 0..4 {
            f.extend([0x81, 0x00, 0, 1]);
        }
        f.extend([0x08, 0x00]);
        assert_eq!(strip(&f).unwrap_err(), Error::Unsupported(Layer::Vlan));
    }
}
