//! The sets of a NetFlow v9 or IPFIX message body: a set id and length, then the set's
//! bytes. Stateless: it bounds every set by its own length and the message's.

use crate::netflow::stats::NetflowError;

/// A flowset id that is really the version of a following message (files that hold several
/// datagrams back to back). These ids are reserved in v9 and never carry a flowset.
pub fn starts_v9_message(id: u16) -> bool {
    matches!(id, 5 | 7 | 9 | 10)
}

/// The sets of a message body, in order. Stops at a zero-length or malformed set header
/// (reported once as an error), or at a set id that `is_boundary` says starts another
/// message; [`SetIter::consumed`] then tells where the next message begins.
pub struct SetIter<'a, B: Fn(u16) -> bool> {
    body: &'a [u8],
    pos: usize,
    is_boundary: B,
}

impl<'a, B: Fn(u16) -> bool> SetIter<'a, B> {
    pub fn new(body: &'a [u8], is_boundary: B) -> Self {
        Self { body, pos: 0, is_boundary }
    }

    /// Bytes of the body that belong to this message.
    pub fn consumed(&self) -> usize {
        self.pos
    }
}

impl<'a, B: Fn(u16) -> bool> Iterator for SetIter<'a, B> {
    type Item = Result<(u16, &'a [u8]), NetflowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = &self.body[self.pos..];
        if rest.len() < 4 {
            // Trailing padding shorter than a set header belongs to this message.
            self.pos = self.body.len();
            return None;
        }
        let id = u16::from_be_bytes([rest[0], rest[1]]);
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        if (self.is_boundary)(id) {
            return None;
        }
        if len == 0 && rest.iter().all(|&b| b == 0) {
            // Zero fill after the last set (Palo Alto, Cisco ACI).
            self.pos = self.body.len();
            return None;
        }
        if len < 4 || len > rest.len() {
            self.pos = self.body.len();
            return Some(Err(NetflowError::BadSetLength));
        }
        self.pos += len;
        Some(Ok((id, &rest[4..len])))
    }
}
