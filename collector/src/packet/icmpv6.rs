//! ICMPv6 messages (RFC 4443): the MTU of a Packet Too Big (type 2) and the invoking
//! packet an error quotes.

use super::{Error, Layer, Result, array, be16, be32};

mod field {
    use crate::packet::{Field, Rest};
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// Message body: the MTU of a Packet Too Big, the pointer of a Parameter Problem.
    pub const BODY: Field = 4..8;
    pub const DATA: Rest = 8..;
}

pub const HEADER_LEN: usize = field::DATA.start;

pub mod msg_type {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAM_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
}

/// A view of an ICMPv6 message.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated(Layer::Icmpv6));
        }
        Ok(Packet { buffer })
    }

    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Error messages are types 0–127 (RFC 4443 §2.1); the ones defined quote the invoking packet.
    pub fn is_error(&self) -> bool {
        (msg_type::DEST_UNREACHABLE..=msg_type::PARAM_PROBLEM).contains(&self.msg_type())
    }

    /// The MTU a Packet Too Big advertises.
    pub fn mtu(&self) -> Option<u32> {
        (self.msg_type() == msg_type::PACKET_TOO_BIG).then(|| be32(self.buffer.as_ref(), field::BODY.start))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    pub fn quoted(&self) -> Option<&'a [u8]> {
        self.is_error().then(|| self.data())
    }

    pub fn data(&self) -> &'a [u8] {
        let buffer: &'a T = self.buffer;
        &buffer.as_ref()[field::DATA]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    pub fn set_body(&mut self, v: [u8; 4]) {
        self.buffer.as_mut()[field::BODY].copy_from_slice(&v);
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }
}

/// The parsed message header, with the Packet Too Big MTU read out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub msg_type: u8,
    pub code: u8,
    pub body: [u8; 4],
    pub mtu: Option<u32>,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        let body = array(p.buffer.as_ref(), field::BODY.start);
        Ok(Repr { msg_type: p.msg_type(), code: p.code(), body, mtu: p.mtu() })
    }

    pub fn packet_too_big(mtu: u32) -> Repr {
        Repr { msg_type: msg_type::PACKET_TOO_BIG, code: 0, body: mtu.to_be_bytes(), mtu: Some(mtu) }
    }

    /// Writes the header. The checksum covers a pseudo-header of the enclosing IPv6
    /// packet, so it is left to whoever has that.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_msg_type(self.msg_type);
        p.set_code(self.code);
        p.set_body(self.body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{ip_protocol, ipv6};

    #[test]
    fn packet_too_big_round_trips_and_quotes_the_original() {
        let mut buf = [0u8; 8 + 48];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        Repr::packet_too_big(1280).emit(&mut p);
        ipv6::tests::repr(ip_protocol::UDP, 1452).emit(&mut ipv6::Packet::new_unchecked(p.data_mut()));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), Repr::packet_too_big(1280));
        let orig = ipv6::Packet::new_checked(p.quoted().unwrap()).unwrap();
        assert_eq!(orig.total_len(), 1492);
    }

    #[test]
    fn echo_is_not_an_error() {
        let echo = [msg_type::ECHO_REQUEST, 0, 0, 0, 0, 1, 0, 1];
        let p = Packet::new_checked(&echo[..]).unwrap();
        assert_eq!((p.quoted(), p.mtu()), (None, None));
        assert_eq!(Packet::new_checked(&echo[..4]).unwrap_err(), Error::Truncated(Layer::Icmpv6));
    }
}
