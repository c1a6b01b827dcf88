//! Linux cooked capture headers: SLL (link type 113, `tcpdump -i any` before libpcap 1.10)
//! and SLL2 (link type 276). They replace the Ethernet header and carry the EtherType.

use super::{Error, Layer, Result, be16, be32, put16, put32};

mod field {
    use crate::packet::{Field, Rest};
    pub const PACKET_TYPE: Field = 0..2;
    pub const ARPHRD: Field = 2..4;
    pub const ADDR_LEN: Field = 4..6;
    pub const ADDR: Field = 6..14;
    pub const PROTOCOL: Field = 14..16;
    pub const PAYLOAD: Rest = 16..;
}

mod field2 {
    use crate::packet::{Field, Rest};
    pub const PROTOCOL: Field = 0..2;
    pub const IFINDEX: Field = 4..8;
    pub const ARPHRD: Field = 8..10;
    pub const PACKET_TYPE: usize = 10;
    pub const ADDR_LEN: usize = 11;
    pub const ADDR: Field = 12..20;
    pub const PAYLOAD: Rest = 20..;
}

pub const SLL_LEN: usize = field::PAYLOAD.start;
pub const SLL2_LEN: usize = field2::PAYLOAD.start;

/// Packet types of the cooked headers (`PACKET_HOST`, ...).
pub mod packet_type {
    pub const HOST: u8 = 0;
    pub const BROADCAST: u8 = 1;
    pub const MULTICAST: u8 = 2;
    pub const OTHERHOST: u8 = 3;
    pub const OUTGOING: u8 = 4;
}

/// A view of a Linux cooked (SLL) header.
#[derive(Clone, Copy, Debug)]
pub struct Sll<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Sll<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Sll { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < SLL_LEN {
            return Err(Error::Truncated(Layer::Link));
        }
        Ok(Sll { buffer })
    }

    pub fn packet_type(&self) -> u8 {
        be16(self.buffer.as_ref(), field::PACKET_TYPE.start) as u8
    }

    pub fn arphrd(&self) -> u16 {
        be16(self.buffer.as_ref(), field::ARPHRD.start)
    }

    /// The link-layer source address (a MAC when six bytes long).
    pub fn addr(&self) -> &[u8] {
        let len = (be16(self.buffer.as_ref(), field::ADDR_LEN.start) as usize).min(8);
        &self.buffer.as_ref()[field::ADDR.start..field::ADDR.start + len]
    }

    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PROTOCOL.start)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Sll<&'a T> {
    pub fn payload(&self) -> &'a [u8] {
        let buffer: &'a T = self.buffer;
        &buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Sll<T> {
    fn emit_fields(&mut self, repr: &Repr) {
        let b = self.buffer.as_mut();
        put16(b, field::PACKET_TYPE.start, repr.packet_type as u16);
        put16(b, field::ARPHRD.start, repr.arphrd);
        put16(b, field::ADDR_LEN.start, repr.addr_len as u16);
        b[field::ADDR].copy_from_slice(&repr.addr);
        put16(b, field::PROTOCOL.start, repr.protocol);
    }
}

/// A view of a Linux cooked v2 (SLL2) header.
#[derive(Clone, Copy, Debug)]
pub struct Sll2<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Sll2<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Sll2 { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < SLL2_LEN {
            return Err(Error::Truncated(Layer::Link));
        }
        Ok(Sll2 { buffer })
    }

    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), field2::PROTOCOL.start)
    }

    /// The interface the packet was seen on.
    pub fn ifindex(&self) -> u32 {
        be32(self.buffer.as_ref(), field2::IFINDEX.start)
    }

    pub fn arphrd(&self) -> u16 {
        be16(self.buffer.as_ref(), field2::ARPHRD.start)
    }

    pub fn packet_type(&self) -> u8 {
        self.buffer.as_ref()[field2::PACKET_TYPE]
    }

    pub fn addr(&self) -> &[u8] {
        let len = (self.buffer.as_ref()[field2::ADDR_LEN] as usize).min(8);
        &self.buffer.as_ref()[field2::ADDR.start..field2::ADDR.start + len]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Sll2<&'a T> {
    pub fn payload(&self) -> &'a [u8] {
        let buffer: &'a T = self.buffer;
        &buffer.as_ref()[field2::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Sll2<T> {
    fn emit_fields(&mut self, repr: &Repr) {
        let b = self.buffer.as_mut();
        put16(b, field2::PROTOCOL.start, repr.protocol);
        put16(b, 2, 0);
        put32(b, field2::IFINDEX.start, repr.ifindex);
        put16(b, field2::ARPHRD.start, repr.arphrd);
        b[field2::PACKET_TYPE] = repr.packet_type;
        b[field2::ADDR_LEN] = repr.addr_len;
        b[field2::ADDR].copy_from_slice(&repr.addr);
    }
}

/// The parsed cooked header (SLL leaves `ifindex` at 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub packet_type: u8,
    pub arphrd: u16,
    pub addr_len: u8,
    pub addr: [u8; 8],
    pub protocol: u16,
    pub ifindex: u32,
}

impl Repr {
    pub fn parse_sll<T: AsRef<[u8]>>(h: &Sll<T>) -> Result<Repr> {
        let mut addr = [0u8; 8];
        let a = h.addr();
        addr[..a.len()].copy_from_slice(a);
        let addr_len = a.len() as u8;
        Ok(Repr {
            packet_type: h.packet_type(),
            arphrd: h.arphrd(),
            addr_len,
            addr,
            protocol: h.protocol(),
            ifindex: 0,
        })
    }

    pub fn parse_sll2<T: AsRef<[u8]>>(h: &Sll2<T>) -> Result<Repr> {
        let mut addr = [0u8; 8];
        let a = h.addr();
        addr[..a.len()].copy_from_slice(a);
        let (packet_type, arphrd, protocol, ifindex) =
            (h.packet_type(), h.arphrd(), h.protocol(), h.ifindex());
        Ok(Repr { packet_type, arphrd, addr_len: a.len() as u8, addr, protocol, ifindex })
    }

    pub fn emit_sll<T: AsRef<[u8]> + AsMut<[u8]>>(&self, h: &mut Sll<T>) {
        h.emit_fields(self);
    }

    pub fn emit_sll2<T: AsRef<[u8]> + AsMut<[u8]>>(&self, h: &mut Sll2<T>) {
        h.emit_fields(self);
    }

    /// The source MAC, when the address is one.
    pub fn mac(&self) -> Option<[u8; 6]> {
        (self.addr_len == 6).then(|| super::array(&self.addr, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(ifindex: u32) -> Repr {
        let addr = [2, 0, 0, 0, 0, 9, 0, 0];
        Repr { packet_type: packet_type::OUTGOING, arphrd: 1, addr_len: 6, addr, protocol: 0x86DD, ifindex }
    }

    #[test]
    fn sll_round_trips() {
        let mut buf = [0u8; SLL_LEN + 1];
        repr(0).emit_sll(&mut Sll::new_unchecked(&mut buf[..]));
        let h = Sll::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse_sll(&h).unwrap(), repr(0));
        assert_eq!(h.payload().len(), 1);
        assert_eq!(Repr::parse_sll(&h).unwrap().mac(), Some([2, 0, 0, 0, 0, 9]));
    }

    #[test]
    fn sll2_round_trips() {
        let mut buf = [0u8; SLL2_LEN];
        repr(7).emit_sll2(&mut Sll2::new_unchecked(&mut buf[..]));
        assert_eq!(Repr::parse_sll2(&Sll2::new_checked(&buf[..]).unwrap()).unwrap(), repr(7));
    }

    #[test]
    fn short_headers_are_errors() {
        assert!(Sll::new_checked(&[0u8; 15][..]).is_err());
        assert!(Sll2::new_checked(&[0u8; 19][..]).is_err());
    }
}
