//! A bounded reader of sFlow's XDR encoding (RFC 4506 as sFlow v5 uses it): big-endian
//! 32-bit words, opaque data as a length and bytes padded to a word, and lists of
//! elements (samples, records) each framed as `data_format, opaque<>`. Nothing is read
//! past the slice it was given, whatever a length field claims.

use super::stats::SflowError;
use crate::addr::{self, Addr16};

/// A cursor over one bounded piece of a datagram: the datagram, a sample or a record.
#[derive(Clone, Copy, Debug)]
pub struct Xdr<'a> {
    buf: &'a [u8],
}

impl<'a> Xdr<'a> {
    pub fn new(buf: &'a [u8]) -> Xdr<'a> {
        Xdr { buf }
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// `n` bytes as they are, no padding.
    #[inline]
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], SflowError> {
        if n > self.buf.len() {
            return Err(SflowError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    #[inline]
    pub fn u32(&mut self) -> Result<u32, SflowError> {
        self.bytes(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    #[inline]
    pub fn u64(&mut self) -> Result<u64, SflowError> {
        Ok((self.u32()? as u64) << 32 | self.u32()? as u64)
    }

    /// Skips `n` words.
    #[inline]
    pub fn skip_words(&mut self, n: usize) -> Result<(), SflowError> {
        self.bytes(n * 4).map(|_| ())
    }

    /// `opaque<>`: a length, the bytes, and padding to a word (a missing pad at the very
    /// end is tolerated: some agents cut it).
    #[inline]
    pub fn opaque(&mut self) -> Result<&'a [u8], SflowError> {
        let len = self.u32()? as usize;
        let data = self.bytes(len)?;
        let pad = (4 - len % 4) % 4;
        self.buf = &self.buf[pad.min(self.buf.len())..];
        Ok(data)
    }

    /// `address`: a type (0 unknown, 1 IPv4, 2 IPv6) and that many bytes.
    #[inline]
    pub fn address(&mut self) -> Result<Option<Addr16>, SflowError> {
        match self.u32()? {
            0 => Ok(None),
            1 => {
                let b = self.bytes(4)?;
                Ok(Some(addr::from_v4_bytes([b[0], b[1], b[2], b[3]])))
            }
            2 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(self.bytes(16)?);
                Ok(Some(a))
            }
            _ => Err(SflowError::BadAddressType),
        }
    }

    /// The list of `count` elements that follows: samples of a datagram or records of a
    /// sample.
    #[inline]
    pub fn elements(self, count: u32) -> Elements<'a> {
        Elements { rest: self, left: count, error: None }
    }
}

/// Elements framed as `data_format, opaque<>`, in order. Iteration stops at the first
/// element whose length runs past the enclosing piece; [`Elements::error`] then says so,
/// and the elements before it stand. A count larger than the bytes allow stops the same way.
pub struct Elements<'a> {
    rest: Xdr<'a>,
    left: u32,
    error: Option<SflowError>,
}

/// One element: its `data_format` split into enterprise and format, and its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Element<'a> {
    pub enterprise: u32,
    pub format: u32,
    pub body: &'a [u8],
}

impl<'a> Elements<'a> {
    /// Why iteration stopped early, if it did.
    pub fn error(&self) -> Option<SflowError> {
        self.error
    }

    /// Bytes after the last element.
    pub fn rest(&self) -> &'a [u8] {
        self.rest.rest()
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = Element<'a>;

    #[inline]
    fn next(&mut self) -> Option<Element<'a>> {
        if self.left == 0 || self.error.is_some() {
            return None;
        }
        let mut at = self.rest;
        let parsed = at.u32().and_then(|f| at.opaque().map(|body| (f, body)));
        match parsed {
            Ok((data_format, body)) => {
                self.left -= 1;
                self.rest = at;
                Some(Element { enterprise: data_format >> 12, format: data_format & 0xfff, body })
            }
            Err(_) => {
                self.error = Some(SflowError::BadLength);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_opaque_with_padding() {
        let buf = [0, 0, 0, 7, 0, 0, 0, 3, b'a', b'b', b'c', 0, 0, 0, 0, 1, 0, 0, 0, 2];
        let mut x = Xdr::new(&buf);
        assert_eq!(x.u32(), Ok(7));
        assert_eq!(x.opaque(), Ok(&b"abc"[..]));
        assert_eq!(x.u64(), Ok(1 << 32 | 2));
        assert!(x.is_empty());
        assert_eq!(x.u32(), Err(SflowError::Truncated));
    }

    #[test]
    fn a_length_past_the_end_is_refused() {
        let buf = [0, 0, 0, 9, 1, 2, 3, 4];
        assert_eq!(Xdr::new(&buf).opaque(), Err(SflowError::Truncated));
        let huge = [0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4];
        assert_eq!(Xdr::new(&huge).opaque(), Err(SflowError::Truncated));
    }

    #[test]
    fn addresses_of_each_type() {
        let v4 = [0, 0, 0, 1, 10, 0, 0, 1];
        assert_eq!(Xdr::new(&v4).address(), Ok(Some(addr::from_v4_bytes([10, 0, 0, 1]))));
        assert_eq!(Xdr::new(&[0, 0, 0, 0]).address(), Ok(None));
        assert_eq!(Xdr::new(&[0, 0, 0, 3, 1, 2, 3, 4]).address(), Err(SflowError::BadAddressType));
        assert_eq!(Xdr::new(&[0, 0, 0, 2, 1, 2, 3, 4]).address(), Err(SflowError::Truncated));
    }

    #[test]
    fn elements_stop_at_the_first_that_does_not_fit() {
        // Two elements (enterprise 0 format 1, enterprise 8800 format 2), then one claiming
        // 64 bytes of the 4 left, under a count of 1000.
        let buf = [
            0, 0, 0, 1, 0, 0, 0, 4, 9, 9, 9, 9, //
            0x02, 0x26, 0x00, 0x02, 0, 0, 0, 0, //
            0, 0, 0, 3, 0, 0, 0, 64, 1, 2, 3, 4,
        ];
        let mut it = Xdr::new(&buf).elements(1000);
        let got: Vec<_> = it.by_ref().collect();
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].enterprise, got[0].format, got[0].body), (0, 1, &[9u8, 9, 9, 9][..]));
        assert_eq!((got[1].enterprise, got[1].format, got[1].body.len()), (8800, 2, 0));
        assert_eq!(it.error(), Some(SflowError::BadLength));
        assert_eq!(it.rest().len(), 12);
    }
}
