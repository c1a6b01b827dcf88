//! UDP headers (RFC 768).

use super::{Error, Layer, Result, be16, put16};

mod field {
    use crate::packet::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// A view of a UDP datagram; the payload may be cut short by the capture.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// A view once the header is present and its length (unless 0, as for IPv6 jumbograms
    /// and GSO captures) covers the header.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated(Layer::Udp));
        }
        let len = be16(b, field::LENGTH.start) as usize;
        if len != 0 && len < HEADER_LEN {
            return Err(Error::Length(Layer::Udp));
        }
        Ok(Packet { buffer })
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// The length field: header and payload; 0 for jumbograms and GSO captures.
    pub fn length(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload up to the length field (trailers beyond it are not the datagram's), or
    /// to the end of what was captured.
    pub fn payload(&self) -> &'a [u8] {
        let buffer: &'a T = self.buffer;
        let b = buffer.as_ref();
        let len = self.length() as usize;
        let end = if len == 0 { b.len() } else { len.min(b.len()) };
        &b[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT.start, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT.start, v);
    }

    pub fn set_length(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::LENGTH.start, v);
    }

    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// The parsed UDP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    pub payload_len: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        Ok(Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            payload_len: p.length().saturating_sub(HEADER_LEN as u16),
        })
    }

    /// Writes the header with a zero checksum (optional over IPv4; tunnels commonly omit it).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_length(self.payload_len + HEADER_LEN as u16);
        p.set_checksum(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_trims_trailers() {
        let r = Repr { src_port: 49152, dst_port: 4789, payload_len: 3 };
        let mut buf = [0xEEu8; 15];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), r);
        assert_eq!(p.payload().len(), 3);
    }

    #[test]
    fn bad_lengths_are_errors() {
        assert_eq!(Packet::new_checked(&[0u8; 7][..]).unwrap_err(), Error::Truncated(Layer::Udp));
        let b = [0, 1, 0, 2, 0, 7, 0, 0];
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Length(Layer::Udp));
        let jumbo = [0, 1, 0, 2, 0, 0, 0, 0, 9, 9];
        assert_eq!(Packet::new_checked(&jumbo[..]).unwrap().payload(), &[9, 9]);
    }
}
