//! GRE headers (RFC 2784 with the key and sequence of RFC 2890), and the ERSPAN headers
//! that mirrored traffic carries inside GRE.

use super::{Error, Layer, Result, be16, be32, ethertype, put16, put32};

mod field {
    use crate::packet::Field;
    pub const FLAGS_VERSION: Field = 0..2;
    pub const PROTOCOL: Field = 2..4;
    pub const OPTIONAL: usize = 4;
}

/// Length of the base header.
pub const HEADER_LEN: usize = field::OPTIONAL;

const FLAG_CHECKSUM: u16 = 0x8000;
const FLAG_ROUTING: u16 = 0x4000;
const FLAG_KEY: u16 = 0x2000;
const FLAG_SEQUENCE: u16 = 0x1000;
const VERSION: u16 = 0x0007;

/// A view of a GRE header. Version 0 only: version 1 (PPTP) and the source routing of
/// RFC 1701 are other layouts and are refused as [`Error::Unsupported`].
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Packet { buffer };
        let b = p.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated(Layer::Gre));
        }
        if p.version() != 0 || p.flags() & FLAG_ROUTING != 0 {
            return Err(Error::Unsupported(Layer::Gre));
        }
        if b.len() < p.header_len() {
            return Err(Error::Truncated(Layer::Gre));
        }
        Ok(p)
    }

    fn flags(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLAGS_VERSION.start)
    }

    pub fn version(&self) -> u8 {
        (self.flags() & VERSION) as u8
    }

    pub fn has_checksum(&self) -> bool {
        self.flags() & FLAG_CHECKSUM != 0
    }

    pub fn has_key(&self) -> bool {
        self.flags() & FLAG_KEY != 0
    }

    pub fn has_sequence(&self) -> bool {
        self.flags() & FLAG_SEQUENCE != 0
    }

    /// The EtherType of the payload.
    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PROTOCOL.start)
    }

    pub fn header_len(&self) -> usize {
        HEADER_LEN
            + 4 * (self.has_checksum() as usize + self.has_key() as usize + self.has_sequence() as usize)
    }

    fn key_at(&self) -> usize {
        HEADER_LEN + 4 * self.has_checksum() as usize
    }

    /// The key (a tenant id in Neutron and OVS; VSID << 8 | flow id in NVGRE).
    pub fn key(&self) -> Option<u32> {
        self.has_key().then(|| be32(self.buffer.as_ref(), self.key_at()))
    }

    pub fn sequence(&self) -> Option<u32> {
        let at = self.key_at() + 4 * self.has_key() as usize;
        self.has_sequence().then(|| be32(self.buffer.as_ref(), at))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    pub fn payload(&self) -> &'a [u8] {
        let buffer: &'a T = self.buffer;
        &buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes the header; the optional fields come in the order checksum, key, sequence.
    pub fn set_header(&mut self, protocol: u16, checksum: bool, key: Option<u32>, sequence: Option<u32>) {
        let flags = if checksum { FLAG_CHECKSUM } else { 0 }
            | if key.is_some() { FLAG_KEY } else { 0 }
            | if sequence.is_some() { FLAG_SEQUENCE } else { 0 };
        let b = self.buffer.as_mut();
        put16(b, field::FLAGS_VERSION.start, flags);
        put16(b, field::PROTOCOL.start, protocol);
        let mut at = HEADER_LEN;
        if checksum {
            put32(b, at, 0);
            at += 4;
        }
        for v in [key, sequence].into_iter().flatten() {
            put32(b, at, v);
            at += 4;
        }
    }
}

/// The parsed GRE header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub protocol: u16,
    pub checksum: bool,
    pub key: Option<u32>,
    pub sequence: Option<u32>,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        Ok(Repr { protocol: p.protocol(), checksum: p.has_checksum(), key: p.key(), sequence: p.sequence() })
    }

    pub fn header_len(&self) -> usize {
        HEADER_LEN
            + 4 * (self.checksum as usize + self.key.is_some() as usize + self.sequence.is_some() as usize)
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_header(self.protocol, self.checksum, self.key, self.sequence);
    }
}

/// The ERSPAN header after GRE (type II: 8 bytes; type III: 12, plus 8 when its O flag
/// says platform-specific data follows; type I, GRE without a sequence number: none).
/// Returns the session id and the header length; an Ethernet frame follows.
pub fn erspan(gre_protocol: u16, gre_has_sequence: bool, bytes: &[u8]) -> Result<(u16, usize)> {
    let len = match gre_protocol {
        ethertype::ERSPAN_II if !gre_has_sequence => return Ok((0, 0)),
        ethertype::ERSPAN_II => 8,
        ethertype::ERSPAN_III => {
            let o_flag = bytes.get(11).ok_or(Error::Truncated(Layer::Gre))? & 0x01 != 0;
            if o_flag { 20 } else { 12 }
        }
        _ => return Err(Error::Unsupported(Layer::Gre)),
    };
    if bytes.len() < len {
        return Err(Error::Truncated(Layer::Gre));
    }
    Ok((be16(bytes, 2) & 0x03FF, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_combination() {
        for checksum in [false, true] {
            for key in [None, Some(0xCAFE)] {
                for sequence in [None, Some(7)] {
                    let r = Repr { protocol: ethertype::TEB, checksum, key, sequence };
                    let mut buf = [0u8; 16];
                    r.emit(&mut Packet::new_unchecked(&mut buf[..]));
                    let p = Packet::new_checked(&buf[..]).unwrap();
                    assert_eq!(Repr::parse(&p).unwrap(), r);
                    assert_eq!(p.payload().len(), 16 - r.header_len());
                }
            }
        }
    }

    #[test]
    fn pptp_routing_and_short_headers_are_errors() {
        let pptp = [0x30, 0x81, 0x88, 0x0B, 0, 0, 0, 0];
        assert_eq!(Packet::new_checked(&pptp[..]).unwrap_err(), Error::Unsupported(Layer::Gre));
        let routing = [0x40, 0x00, 0x08, 0x00, 0, 0, 0, 0];
        assert_eq!(Packet::new_checked(&routing[..]).unwrap_err(), Error::Unsupported(Layer::Gre));
        let keyed = [0x20, 0x00, 0x08, 0x00, 0, 0];
        assert_eq!(Packet::new_checked(&keyed[..]).unwrap_err(), Error::Truncated(Layer::Gre));
    }

    #[test]
    fn erspan_header_lengths() {
        let ii = [0x10, 0x00, 0x00, 0x2A, 0, 0, 0, 0];
        assert_eq!(erspan(ethertype::ERSPAN_II, true, &ii).unwrap(), (42, 8));
        assert_eq!(erspan(ethertype::ERSPAN_II, false, &ii).unwrap(), (0, 0));
        let mut iii = [0u8; 20];
        iii[..4].copy_from_slice(&[0x20, 0x00, 0x00, 0x05]);
        assert_eq!(erspan(ethertype::ERSPAN_III, true, &iii).unwrap(), (5, 12));
        iii[11] = 1;
        assert_eq!(erspan(ethertype::ERSPAN_III, true, &iii).unwrap(), (5, 20));
        assert_eq!(
            erspan(ethertype::ERSPAN_III, true, &iii[..15]).unwrap_err(),
            Error::Truncated(Layer::Gre)
        );
    }
}
