//! Batched receive: one `recvmmsg` call fills up to [`BATCH`] datagrams.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

/// Datagrams per `recvmmsg` call.
pub const BATCH: usize = 64;
/// Largest UDP payload.
const MAX_DATAGRAM: usize = 65_536;

/// Reusable buffers for batched receive (allocated once per worker).
pub struct BatchReceiver {
    bufs: Vec<u8>,
    lens: [usize; BATCH],
    addrs: [libc::sockaddr_storage; BATCH],
    count: usize,
}

impl Default for BatchReceiver {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchReceiver {
    pub fn new() -> Self {
        Self {
            bufs: vec![0u8; BATCH * MAX_DATAGRAM],
            lens: [0; BATCH],
            // SAFETY: sockaddr_storage is plain data; all-zero is a valid value.
            addrs: unsafe { std::mem::zeroed() },
            count: 0,
        }
    }

    /// Waits for at least one datagram (up to the socket's read timeout) and takes every
    /// other one already queued, up to [`BATCH`]. Returns how many arrived; a timeout is 0.
    pub fn recv(&mut self, socket: &UdpSocket) -> std::io::Result<usize> {
        let mut iovs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..BATCH {
            iovs[i].iov_base = self.bufs[i * MAX_DATAGRAM..].as_mut_ptr() as *mut libc::c_void;
            iovs[i].iov_len = MAX_DATAGRAM;
            hdrs[i].msg_hdr.msg_iov = &mut iovs[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
            hdrs[i].msg_hdr.msg_name = &mut self.addrs[i] as *mut _ as *mut libc::c_void;
            hdrs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        }
        // SAFETY: every header points into buffers owned by `self` (or this frame) that
        // outlive the call; the kernel writes at most iov_len bytes and msg_namelen bytes.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            self.count = 0;
            return match e.kind() {
                std::io::ErrorKind::WouldBlock
                | std::io::ErrorKind::TimedOut
                | std::io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        self.count = n as usize;
        for (i, h) in hdrs.iter().take(self.count).enumerate() {
            self.lens[i] = (h.msg_len as usize).min(MAX_DATAGRAM);
        }
        Ok(self.count)
    }

    /// The `i`-th datagram of the last receive and its source.
    pub fn get(&self, i: usize) -> Option<(SocketAddr, &[u8])> {
        if i >= self.count {
            return None;
        }
        let data = &self.bufs[i * MAX_DATAGRAM..i * MAX_DATAGRAM + self.lens[i]];
        Some((sockaddr_to_std(&self.addrs[i])?, data))
    }
}

fn sockaddr_to_std(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match s.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(s as *const _ as *const libc::sockaddr_in) };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(a.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(s as *const _ as *const libc::sockaddr_in6) };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            // IPv4 clients of a dual-stack socket arrive IPv4-mapped; store them as IPv4.
            let ip = ip.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(ip));
            Some(SocketAddr::new(ip, u16::from_be(a.sin6_port)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receives_a_burst_in_one_call() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..5u8 {
            tx.send_to(&[i; 10], rx.local_addr().unwrap()).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut r = BatchReceiver::new();
        assert_eq!(r.recv(&rx).unwrap(), 5);
        let (src, data) = r.get(4).unwrap();
        assert_eq!(src, tx.local_addr().unwrap());
        assert_eq!(data, &[4u8; 10]);
        assert_eq!(r.recv(&rx).unwrap(), 0, "timeout is not an error");
    }
}
