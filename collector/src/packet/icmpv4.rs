//! ICMPv4 messages (RFC 792), with the two things MTU work reads: the next-hop MTU of a
//! "fragmentation needed" (type 3 code 4, RFC 1191) and the original header an error quotes.

use super::{Error, Layer, Result, array, be16, checksum, put16};

mod field {
    use crate::packet::{Field, Rest};
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// "Rest of header": id/sequence for echo, unused + next-hop MTU for frag-needed.
    pub const REST: Field = 4..8;
    pub const NEXT_HOP_MTU: Field = 6..8;
    pub const DATA: Rest = 8..;
}

pub const HEADER_LEN: usize = field::DATA.start;

pub mod msg_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAM_PROBLEM: u8 = 12;
}

/// Destination unreachable, code 4: fragmentation needed and DF set.
pub const CODE_FRAG_NEEDED: u8 = 4;

/// A view of an ICMPv4 message.
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
            return Err(Error::Truncated(Layer::Icmpv4));
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

    /// Whether the message is an error that quotes the packet that caused it.
    pub fn is_error(&self) -> bool {
        use msg_type::*;
        matches!(self.msg_type(), DEST_UNREACHABLE | SOURCE_QUENCH | REDIRECT | TIME_EXCEEDED | PARAM_PROBLEM)
    }

    /// The next-hop MTU of a fragmentation-needed message; 0 from pre-RFC-1191 routers.
    pub fn next_hop_mtu(&self) -> Option<u16> {
        (self.msg_type() == msg_type::DEST_UNREACHABLE && self.code() == CODE_FRAG_NEEDED)
            .then(|| be16(self.buffer.as_ref(), field::NEXT_HOP_MTU.start))
    }

    pub fn verify_checksum(&self) -> bool {
        checksum(self.buffer.as_ref()) == 0
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The quoted original packet of an error message (its IP header and at least 8 bytes).
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

    pub fn set_rest(&mut self, v: [u8; 4]) {
        self.buffer.as_mut()[field::REST].copy_from_slice(&v);
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }

    /// Writes the checksum over the whole message as it stands.
    pub fn fill_checksum(&mut self) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, 0);
        let sum = checksum(self.buffer.as_ref());
        put16(self.buffer.as_mut(), field::CHECKSUM.start, sum);
    }
}

/// The parsed message header: type, code and the four "rest of header" bytes, with the
/// next-hop MTU read out when the message is fragmentation-needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub msg_type: u8,
    pub code: u8,
    pub rest: [u8; 4],
    pub next_hop_mtu: Option<u16>,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        let rest = array(p.buffer.as_ref(), field::REST.start);
        Ok(Repr { msg_type: p.msg_type(), code: p.code(), rest, next_hop_mtu: p.next_hop_mtu() })
    }

    /// A fragmentation-needed message advertising `mtu`.
    pub fn frag_needed(mtu: u16) -> Repr {
        let [hi, lo] = mtu.to_be_bytes();
        Repr {
            msg_type: msg_type::DEST_UNREACHABLE,
            code: CODE_FRAG_NEEDED,
            rest: [0, 0, hi, lo],
            next_hop_mtu: Some(mtu),
        }
    }

    /// Writes the header; the caller writes the data, then [`Packet::fill_checksum`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_msg_type(self.msg_type);
        p.set_code(self.code);
        p.set_rest(self.rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::ipv4;

    #[test]
    fn frag_needed_round_trips_and_quotes_the_original() {
        let mut buf = [0u8; 8 + 28];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        Repr::frag_needed(1400).emit(&mut p);
        ipv4::tests::repr(17, 1472).emit(&mut ipv4::Packet::new_unchecked(p.data_mut()));
        p.fill_checksum();
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(Repr::parse(&p).unwrap(), Repr::frag_needed(1400));
        let orig = ipv4::Packet::new_checked(p.quoted().unwrap()).unwrap();
        assert_eq!(orig.total_len(), 1492);
    }

    #[test]
    fn echo_is_not_an_error_and_short_messages_are_refused() {
        let echo = [msg_type::ECHO_REQUEST, 0, 0, 0, 0, 1, 0, 1];
        let p = Packet::new_checked(&echo[..]).unwrap();
        assert_eq!((p.quoted(), p.next_hop_mtu()), (None, None));
        assert_eq!(Packet::new_checked(&echo[..7]).unwrap_err(), Error::Truncated(Layer::Icmpv4));
    }
}
