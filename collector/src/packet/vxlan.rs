//! VXLAN headers (RFC 7348; the group-policy extension of VXLAN-GBP is read as flags).

use super::{Error, Layer, Result, be32, put32};

mod field {
    use crate::packet::{Field, Rest};
    pub const FLAGS: usize = 0;
    pub const VNI: Field = 4..8;
    pub const PAYLOAD: Rest = 8..;
}

pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// The I flag: the VNI is valid.
pub const FLAG_VNI: u8 = 0x08;
/// The G flag of VXLAN-GBP: a group policy id is present.
pub const FLAG_GBP: u8 = 0x80;

/// UDP ports VXLAN is found on by default: IANA's 4789 and Linux's (flannel's) 8472.
pub const PORTS: [u16; 2] = [4789, 8472];

/// A view of a VXLAN header and the Ethernet frame it carries.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// A view once the header is present and its I flag set. Other flag bits are
    /// tolerated: real traces carry reserved bits (0x0c) and GBP flags.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated(Layer::Vxlan));
        }
        if b[field::FLAGS] & FLAG_VNI == 0 {
            return Err(Error::Unsupported(Layer::Vxlan));
        }
        Ok(Packet { buffer })
    }

    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// The 24-bit network identifier.
    pub fn vni(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VNI.start) >> 8
    }

    /// The group policy id of a VXLAN-GBP header.
    pub fn group_policy(&self) -> Option<u16> {
        let b = self.buffer.as_ref();
        (self.flags() & FLAG_GBP != 0).then(|| u16::from_be_bytes([b[2], b[3]]))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The inner Ethernet frame.
    pub fn payload(&self) -> &'a [u8] {
        let buffer: &'a T = self.buffer;
        &buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_flags(&mut self, v: u8) {
        let b = self.buffer.as_mut();
        b[field::FLAGS] = v;
        b[1..4].fill(0);
    }

    pub fn set_vni(&mut self, vni: u32) {
        put32(self.buffer.as_mut(), field::VNI.start, vni << 8);
    }
}

/// The parsed VXLAN header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub vni: u32,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        Ok(Repr { vni: p.vni() })
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_flags(FLAG_VNI);
        p.set_vni(self.vni);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut buf = [0u8; 9];
        Repr { vni: 0xABCDEF }.emit(&mut Packet::new_unchecked(&mut buf[..]));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), Repr { vni: 0xABCDEF });
        assert_eq!((p.payload().len(), p.group_policy()), (1, None));
    }

    #[test]
    fn reserved_flags_pass_and_a_missing_i_flag_does_not() {
        let mut b = [0x04 | FLAG_VNI, 0, 0, 0, 0, 0, 100, 0];
        assert_eq!(Packet::new_checked(&b[..]).unwrap().vni(), 100);
        b[0] = 0x04;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err(), Error::Unsupported(Layer::Vxlan));
        assert_eq!(Packet::new_checked(&b[..7]).unwrap_err(), Error::Truncated(Layer::Vxlan));
    }
}
