//! GENEVE headers (RFC 8926) and their options, bounded by the header's option length.

use super::{Error, Layer, Result, be16, be32, put16, put32};

mod field {
    use crate::packet::Field;
    pub const VER_OPTLEN: usize = 0;
    pub const FLAGS: usize = 1;
    pub const PROTOCOL: Field = 2..4;
    pub const VNI: Field = 4..8;
    pub const OPTIONS: usize = 8;
}

/// Length of the base header.
pub const HEADER_LEN: usize = field::OPTIONS;
/// The IANA port.
pub const PORT: u16 = 6081;

const FLAG_OAM: u8 = 0x80;
const FLAG_CRITICAL: u8 = 0x40;

/// A view of a GENEVE header, its options and the payload.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// A view once the version is 0 and the base header and options are present.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Packet { buffer };
        let b = p.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated(Layer::Geneve));
        }
        if p.version() != 0 {
            return Err(Error::Version(Layer::Geneve));
        }
        if b.len() < p.header_len() {
            return Err(Error::Truncated(Layer::Geneve));
        }
        Ok(p)
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_OPTLEN] >> 6
    }

    /// Length of the options in bytes.
    pub fn options_len(&self) -> usize {
        (self.buffer.as_ref()[field::VER_OPTLEN] & 0x3F) as usize * 4
    }

    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    /// A control (OAM) packet rather than data.
    pub fn is_oam(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & FLAG_OAM != 0
    }

    pub fn has_critical_options(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & FLAG_CRITICAL != 0
    }

    /// The EtherType of the payload (0x6558 for an Ethernet frame).
    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PROTOCOL.start)
    }

    pub fn vni(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VNI.start) >> 8
    }
}

/// One GENEVE option (TLV).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeneveOption<'a> {
    pub class: u16,
    /// The type; its top bit marks the option critical.
    pub kind: u8,
    pub data: &'a [u8],
}

/// The options of a header.
#[derive(Clone, Debug)]
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<GeneveOption<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        if self.rest.len() < 4 {
            self.rest = &[];
            return Some(Err(Error::Option(Layer::Geneve)));
        }
        let len = 4 + (self.rest[3] & 0x1F) as usize * 4;
        if len > self.rest.len() {
            self.rest = &[];
            return Some(Err(Error::Option(Layer::Geneve)));
        }
        let opt = GeneveOption { class: be16(self.rest, 0), kind: self.rest[2], data: &self.rest[4..len] };
        self.rest = &self.rest[len..];
        Some(Ok(opt))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The options, read one by one; an option that runs past the option length is an error.
    pub fn options(&self) -> Options<'a> {
        let buffer: &'a T = self.buffer;
        Options { rest: &buffer.as_ref()[field::OPTIONS..self.header_len()] }
    }

    pub fn payload(&self) -> &'a [u8] {
        let buffer: &'a T = self.buffer;
        &buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_header(&mut self, options_len: usize, oam: bool, critical: bool, protocol: u16, vni: u32) {
        let b = self.buffer.as_mut();
        b[field::VER_OPTLEN] = (options_len / 4) as u8 & 0x3F;
        b[field::FLAGS] = if oam { FLAG_OAM } else { 0 } | if critical { FLAG_CRITICAL } else { 0 };
        put16(b, field::PROTOCOL.start, protocol);
        put32(b, field::VNI.start, vni << 8);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }
}

/// Most option bytes a [`Repr`] keeps (the header's limit: 63 words).
pub const MAX_OPTIONS_LEN: usize = 252;

/// The parsed GENEVE header. The options are kept as raw TLV bytes so the parse does not
/// allocate; validate them with [`Packet::options`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub vni: u32,
    pub protocol: u16,
    pub oam: bool,
    pub critical: bool,
    pub options_len: usize,
    pub options: [u8; MAX_OPTIONS_LEN],
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        let raw = &p.buffer.as_ref()[field::OPTIONS..p.header_len()];
        for opt in (Options { rest: raw }) {
            opt?;
        }
        let mut options = [0u8; MAX_OPTIONS_LEN];
        options[..raw.len()].copy_from_slice(raw);
        Ok(Repr {
            vni: p.vni(),
            protocol: p.protocol(),
            oam: p.is_oam(),
            critical: p.has_critical_options(),
            options_len: raw.len(),
            options,
        })
    }

    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_header(self.options_len, self.oam, self.critical, self.protocol, self.vni);
        p.options_mut().copy_from_slice(&self.options[..self.options_len]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::ethertype;

    fn ovn_repr() -> Repr {
        // OVN's one option: class 0x0102, type 0x80, 4 bytes of logical ports.
        let mut options = [0u8; MAX_OPTIONS_LEN];
        options[..8].copy_from_slice(&[0x01, 0x02, 0x80, 0x01, 0, 1, 0, 2]);
        Repr { vni: 0x10, protocol: ethertype::TEB, oam: false, critical: true, options_len: 8, options }
    }

    #[test]
    fn round_trips_with_options() {
        let mut buf = [0u8; 16 + 14];
        ovn_repr().emit(&mut Packet::new_unchecked(&mut buf[..]));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), ovn_repr());
        let opts: Vec<_> = p.options().collect::<Result<_>>().unwrap();
        assert_eq!(opts, [GeneveOption { class: 0x0102, kind: 0x80, data: &[0, 1, 0, 2] }]);
        assert_eq!(p.payload().len(), 14);
    }

    #[test]
    fn an_option_overrunning_the_option_length_is_an_error() {
        let mut buf = [0u8; 16];
        ovn_repr().emit(&mut Packet::new_unchecked(&mut buf[..]));
        buf[11] = 0x02; // claims 8 data bytes, 4 remain
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap_err(), Error::Option(Layer::Geneve));
    }

    #[test]
    fn bad_versions_and_short_headers() {
        let mut buf = [0u8; 16];
        ovn_repr().emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(Packet::new_checked(&buf[..12]).unwrap_err(), Error::Truncated(Layer::Geneve));
        buf[0] |= 0x40;
        assert_eq!(Packet::new_checked(&buf[..]).unwrap_err(), Error::Version(Layer::Geneve));
    }
}
