//! TCP headers (RFC 9293): ports, sequence numbers, flags and the MSS option, which is
//! what flow aggregation and black-hole detection read.

use super::{Error, Layer, Result, be16, be32, put16, put32};

mod field {
    use crate::packet::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    pub const FLAGS: Field = 12..14;
    pub const WIN_SIZE: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

pub const HEADER_LEN: usize = field::URGENT.end;

/// TCP flag bits as NetFlow's tcpControlBits numbers them.
pub mod flags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    pub const NS: u16 = 0x100;
}

mod option {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
}

/// A view of a TCP segment; the payload may be cut short by the capture.
#[derive(Clone, Copy, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// A view once the header, with the options its data offset declares, is present.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Packet { buffer };
        let b = p.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated(Layer::Tcp));
        }
        if p.header_len() < HEADER_LEN {
            return Err(Error::Length(Layer::Tcp));
        }
        if b.len() < p.header_len() {
            return Err(Error::Truncated(Layer::Tcp));
        }
        Ok(p)
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    pub fn seq_number(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQ_NUM.start)
    }

    pub fn ack_number(&self) -> u32 {
        be32(self.buffer.as_ref(), field::ACK_NUM.start)
    }

    /// Data offset in bytes.
    pub fn header_len(&self) -> usize {
        (self.buffer.as_ref()[field::FLAGS.start] >> 4) as usize * 4
    }

    /// The nine flag bits ([`flags`]).
    pub fn flags(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLAGS.start) & 0x01FF
    }

    pub fn window_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WIN_SIZE.start)
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The maximum segment size option, if present; a malformed option list is an error.
    pub fn mss(&self) -> Result<Option<u16>> {
        let mut opts = &self.buffer.as_ref()[HEADER_LEN..self.header_len()];
        while let Some(&kind) = opts.first() {
            match kind {
                option::END => break,
                option::NOP => opts = &opts[1..],
                _ => {
                    let len = *opts.get(1).ok_or(Error::Option(Layer::Tcp))? as usize;
                    if len < 2 || len > opts.len() {
                        return Err(Error::Option(Layer::Tcp));
                    }
                    if kind == option::MSS {
                        return if len == 4 {
                            Ok(Some(be16(opts, 2)))
                        } else {
                            Err(Error::Option(Layer::Tcp))
                        };
                    }
                    opts = &opts[len..];
                }
            }
        }
        Ok(None)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    pub fn options(&self) -> &'a [u8] {
        let buffer: &'a T = self.buffer;
        &buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    pub fn payload(&self) -> &'a [u8] {
        let buffer: &'a T = self.buffer;
        &buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT.start, v);
    }

    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT.start, v);
    }

    pub fn set_seq_number(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::SEQ_NUM.start, v);
    }

    pub fn set_ack_number(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::ACK_NUM.start, v);
    }

    pub fn set_header_len_and_flags(&mut self, header_len: usize, flags: u16) {
        let v = (((header_len / 4) as u16) << 12) | (flags & 0x01FF);
        put16(self.buffer.as_mut(), field::FLAGS.start, v);
    }

    pub fn set_window_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::WIN_SIZE.start, v);
    }

    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..hl]
    }
}

/// The parsed TCP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq_number: u32,
    pub ack_number: u32,
    pub flags: u16,
    pub window_len: u16,
    pub mss: Option<u16>,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Repr> {
        Ok(Repr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq_number: p.seq_number(),
            ack_number: p.ack_number(),
            flags: p.flags(),
            window_len: p.window_len(),
            mss: p.mss()?,
        })
    }

    pub const fn header_len(&self) -> usize {
        if self.mss.is_some() { HEADER_LEN + 4 } else { HEADER_LEN }
    }

    /// Writes the header (checksum left 0: captures carry their own).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Packet<T>) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_seq_number(self.seq_number);
        p.set_ack_number(self.ack_number);
        p.set_header_len_and_flags(self.header_len(), self.flags);
        p.set_window_len(self.window_len);
        put16(p.buffer.as_mut(), field::CHECKSUM.start, 0);
        put16(p.buffer.as_mut(), field::URGENT.start, 0);
        if let Some(mss) = self.mss {
            let o = p.options_mut();
            o[..2].copy_from_slice(&[option::MSS, 4]);
            o[2..4].copy_from_slice(&mss.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syn() -> Repr {
        Repr {
            src_port: 40000,
            dst_port: 443,
            seq_number: 7,
            ack_number: 0,
            flags: flags::SYN,
            window_len: 64240,
            mss: Some(1460),
        }
    }

    #[test]
    fn round_trips_with_mss() {
        let mut buf = [0u8; 24];
        syn().emit(&mut Packet::new_unchecked(&mut buf[..]));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), syn());
        assert!(p.payload().is_empty());
    }

    #[test]
    fn mss_behind_other_options() {
        let mut buf = [0u8; 32];
        let r = Repr { mss: None, ..syn() };
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        buf[12] = 0x80; // data offset 32
        buf[20..28].copy_from_slice(&[1, 1, 4, 2, 2, 4, 0x05, 0x8c]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.mss().unwrap(), Some(1420));
    }

    #[test]
    fn malformed_options_and_offsets_are_errors() {
        let mut buf = [0u8; 24];
        syn().emit(&mut Packet::new_unchecked(&mut buf[..]));
        let mut bad = buf;
        bad[21] = 9;
        assert_eq!(Packet::new_checked(&bad[..]).unwrap().mss().unwrap_err(), Error::Option(Layer::Tcp));
        bad[21] = 0;
        assert_eq!(Packet::new_checked(&bad[..]).unwrap().mss().unwrap_err(), Error::Option(Layer::Tcp));
        let mut bad = buf;
        bad[12] = 0x40;
        assert_eq!(Packet::new_checked(&bad[..]).unwrap_err(), Error::Length(Layer::Tcp));
        assert_eq!(Packet::new_checked(&buf[..22]).unwrap_err(), Error::Truncated(Layer::Tcp));
    }
}
