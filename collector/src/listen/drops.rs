//! The kernel's count of datagrams dropped on a socket (receive buffer full), read from
//! `/proc/net/udp` and `/proc/net/udp6` by the socket's inode.

use std::net::UdpSocket;
use std::os::fd::AsRawFd;

/// Reads the socket's inode once; [`SocketDrops::read`] then finds its drop counter.
pub struct SocketDrops {
    inode: u64,
    last: u64,
}

impl SocketDrops {
    pub fn new(socket: &UdpSocket) -> Option<Self> {
        // SAFETY: fstat fills `st` for a valid fd.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::fstat(socket.as_raw_fd(), &mut st) };
        (rc == 0).then_some(Self { inode: st.st_ino, last: 0 })
    }

    /// Drops since the previous call.
    pub fn delta(&mut self) -> u64 {
        let Some(now) = self.read() else { return 0 };
        let d = now.saturating_sub(self.last);
        self.last = now;
        d
    }

    /// The cumulative drop count, if the socket is listed.
    pub fn read(&self) -> Option<u64> {
        ["/proc/net/udp", "/proc/net/udp6"].iter().find_map(|p| {
            let text = std::fs::read_to_string(p).ok()?;
            text.lines().skip(1).find_map(|l| parse_line(l, self.inode))
        })
    }
}

/// Columns: sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops.
fn parse_line(line: &str, inode: u64) -> Option<u64> {
    let cols: Vec<&str> = line.split_whitespace().collect();
    if cols.len() < 13 || cols[9].parse::<u64>().ok()? != inode {
        return None;
    }
    cols[12].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_drops_column() {
        let l = "  812: 00000000:0807 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 48213 2 0000000000000000 17";
        assert_eq!(parse_line(l, 48213), Some(17));
        assert_eq!(parse_line(l, 1), None);
    }

    #[test]
    fn finds_an_open_socket() {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let d = SocketDrops::new(&s).unwrap();
        assert_eq!(d.read(), Some(0));
    }
}
