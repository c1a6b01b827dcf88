//! MPLS label stacks (RFC 3032): walked to the bottom of the stack to reach the packet.

use super::{Error, Layer, Result, be32};

/// Length of one label stack entry.
pub const ENTRY_LEN: usize = 4;
/// Most labels the walk pops.
pub const MAX_LABELS: usize = 8;

/// A view of one label stack entry.
#[derive(Clone, Copy, Debug)]
pub struct Entry<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Entry<T> {
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < ENTRY_LEN {
            return Err(Error::Truncated(Layer::Mpls));
        }
        Ok(Entry { buffer })
    }

    fn word(&self) -> u32 {
        be32(self.buffer.as_ref(), 0)
    }

    pub fn label(&self) -> u32 {
        self.word() >> 12
    }

    pub fn traffic_class(&self) -> u8 {
        ((self.word() >> 9) & 7) as u8
    }

    pub fn bottom_of_stack(&self) -> bool {
        self.word() & 0x100 != 0
    }

    pub fn ttl(&self) -> u8 {
        self.word() as u8
    }
}

/// The parsed label stack entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    pub label: u32,
    pub traffic_class: u8,
    pub bottom_of_stack: bool,
    pub ttl: u8,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(e: &Entry<T>) -> Result<Repr> {
        Ok(Repr {
            label: e.label(),
            traffic_class: e.traffic_class(),
            bottom_of_stack: e.bottom_of_stack(),
            ttl: e.ttl(),
        })
    }

    pub fn emit(&self, out: &mut [u8]) {
        let w = (self.label << 12)
            | ((self.traffic_class as u32 & 7) << 9)
            | ((self.bottom_of_stack as u32) << 8)
            | self.ttl as u32;
        out[..ENTRY_LEN].copy_from_slice(&w.to_be_bytes());
    }
}

/// Pops the label stack: the top label and what follows the bottom of the stack.
pub fn pop_stack(mut bytes: &[u8]) -> Result<(u32, &[u8])> {
    let top = Entry::new_checked(bytes)?.label();
    for _ in 0..MAX_LABELS {
        let e = Entry::new_checked(bytes)?;
        bytes = &bytes[ENTRY_LEN..];
        if e.bottom_of_stack() {
            return Ok((top, bytes));
        }
    }
    Err(Error::Unsupported(Layer::Mpls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_pops_to_the_bottom() {
        let top = Repr { label: 16, traffic_class: 5, bottom_of_stack: false, ttl: 64 };
        let bottom = Repr { label: 1_048_575, bottom_of_stack: true, ..top };
        let mut buf = [0u8; 9];
        top.emit(&mut buf[0..]);
        bottom.emit(&mut buf[4..]);
        assert_eq!(Repr::parse(&Entry::new_checked(&buf[4..]).unwrap()).unwrap(), bottom);
        assert_eq!(pop_stack(&buf).unwrap(), (16, &[0u8][..]));
        assert_eq!(pop_stack(&buf[..6]).unwrap_err(), Error::Truncated(Layer::Mpls));
        assert_eq!(pop_stack(&[0u8; 40]).unwrap_err(), Error::Unsupported(Layer::Mpls));
    }
}
