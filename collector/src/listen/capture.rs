//! Live capture from a network interface through libpcap (the `pcap` crate): frames with
//! their capture time, a short read timeout so a quiet link still lets the caller expire
//! flows, and the capture's own drop counters. Files are read by [`crate::pcap::reader`].

use crate::pcap::Frame;

/// Why an interface could not be captured on, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum LiveCaptureError {
    #[error(
        "capturing on {interface} needs root or the capabilities CAP_NET_RAW and CAP_NET_ADMIN \
         (run as root, or `setcap cap_net_raw,cap_net_admin=eip` on the plumb binary): {detail}"
    )]
    Permission { interface: String, detail: String },
    #[error("there is no interface named {interface} here (`ip link` lists them): {detail}")]
    NoSuchInterface { interface: String, detail: String },
    #[error("cannot capture on {interface}: {detail}")]
    Other { interface: String, detail: String },
}

impl LiveCaptureError {
    fn classify(interface: &str, e: ::pcap::Error) -> LiveCaptureError {
        let detail = e.to_string();
        let lower = detail.to_lowercase();
        let interface = interface.to_string();
        if lower.contains("permission") || lower.contains("not permitted") {
            LiveCaptureError::Permission { interface, detail }
        } else if lower.contains("no such device")
            || lower.contains("doesn't exist")
            || lower.contains("not exist")
        {
            LiveCaptureError::NoSuchInterface { interface, detail }
        } else {
            LiveCaptureError::Other { interface, detail }
        }
    }
}

/// How to open a capture.
#[derive(Clone, Copy, Debug)]
pub struct CaptureOptions {
    /// Bytes kept of each packet: headers are enough, the lengths come from them.
    pub snaplen: i32,
    /// The kernel's capture buffer; a larger one rides out bursts.
    pub buffer_bytes: i32,
    pub promiscuous: bool,
    /// How long a read waits before returning with nothing (ms).
    pub read_timeout_ms: i32,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions { snaplen: 512, buffer_bytes: 32 << 20, promiscuous: true, read_timeout_ms: 200 }
    }
}

/// What libpcap counted since the capture opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureCounts {
    pub received: u64,
    /// Dropped because the capture buffer was full (plumb did not keep up).
    pub dropped: u64,
    /// Dropped by the interface or its driver before the capture saw them.
    pub if_dropped: u64,
}

/// An open live capture.
pub struct LiveCapture {
    cap: ::pcap::Capture<::pcap::Active>,
    linktype: i32,
    interface: String,
}

impl LiveCapture {
    pub fn open(interface: &str, o: CaptureOptions) -> Result<LiveCapture, LiveCaptureError> {
        let err = |e| LiveCaptureError::classify(interface, e);
        let cap = ::pcap::Capture::from_device(interface)
            .map_err(err)?
            .snaplen(o.snaplen)
            .buffer_size(o.buffer_bytes)
            .promisc(o.promiscuous)
            .immediate_mode(true)
            .timeout(o.read_timeout_ms)
            .open()
            .map_err(err)?;
        let linktype = cap.get_datalink().0;
        Ok(LiveCapture { cap, linktype, interface: interface.to_string() })
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The next frame, or `None` when the read timeout passed without one.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, LiveCaptureError> {
        match self.cap.next_packet() {
            Ok(p) => {
                // timeval's fields are i64 here and i32 on some targets: widen whatever they are.
                #[allow(clippy::useless_conversion)]
                let ts_us = i64::from(p.header.ts.tv_sec) * 1_000_000 + i64::from(p.header.ts.tv_usec);
                Ok(Some(Frame { ts_us, linktype: self.linktype, data: p.data }))
            }
            Err(::pcap::Error::TimeoutExpired) => Ok(None),
            Err(e) => Err(LiveCaptureError::classify(&self.interface, e)),
        }
    }

    /// libpcap's counters (monotonic since open), when the platform gives them.
    pub fn counts(&mut self) -> Option<CaptureCounts> {
        let s = self.cap.stats().ok()?;
        Some(CaptureCounts {
            received: s.received as u64,
            dropped: s.dropped as u64,
            if_dropped: s.if_dropped as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_interface_says_so() {
        let e =
            LiveCapture::open("plumb-no-such0", CaptureOptions::default()).err().expect("no such interface");
        let text = e.to_string();
        assert!(text.contains("plumb-no-such0"), "{text}");
        // Without root the permission error comes first; either names what to do.
        assert!(text.contains("ip link") || text.contains("CAP_NET_RAW"), "{text}");
    }
}
