//! Binding a listening socket the way a collector needs it.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// A bound socket and what the kernel granted.
pub struct BoundSocket {
    pub socket: UdpSocket,
    /// Receive buffer the kernel reports (it doubles the requested value for bookkeeping).
    pub receive_buffer: usize,
    /// Set when the buffer is smaller than asked: what to change.
    pub warning: Option<String>,
}

/// Binds `addr` with `SO_REUSEPORT` (one socket per worker) and asks for `rcvbuf` bytes
/// of receive buffer: `SO_RCVBUFFORCE` when privileged, else `SO_RCVBUF` (capped by
/// `net.core.rmem_max`). Receives time out after `timeout` so workers can see shutdown.
pub fn bind_udp(addr: SocketAddr, rcvbuf: usize, timeout: Duration) -> std::io::Result<BoundSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        // `[::]:PORT` then also receives IPv4 unless the system says otherwise.
        let _ = socket.set_only_v6(false);
    }
    let forced = force_rcvbuf(&socket, rcvbuf);
    if !forced {
        socket.set_recv_buffer_size(rcvbuf)?;
    }
    socket.set_read_timeout(Some(timeout))?;
    socket.bind(&addr.into()).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on udp {addr}: {e} (is another collector running there? choose another with --listen)"),
        )
    })?;
    let granted = socket.recv_buffer_size()?;
    // Linux reports twice the usable size it set aside.
    let warning = (granted < rcvbuf).then(|| {
        format!(
            "udp {addr}: receive buffer is {} KiB, asked for {} KiB; bursts may be dropped. \
Run plumb with CAP_NET_ADMIN, or raise the limit: sysctl -w net.core.rmem_max={rcvbuf}",
            granted / 1024,
            rcvbuf / 1024
        )
    });
    Ok(BoundSocket { socket: socket.into(), receive_buffer: granted, warning })
}

fn force_rcvbuf(socket: &Socket, size: usize) -> bool {
    let v: libc::c_int = size.min(i32::MAX as usize) as libc::c_int;
    // SAFETY: setsockopt reads `v` for the given length; the fd is valid for the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}
