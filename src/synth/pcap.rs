//! A classic pcap writer for UDP datagrams (Ethernet, IPv4, UDP without checksum), so a
//! generated export reads like any capture: `plumb ingest`, `plumb replay`, tshark.

use std::io::{self, Write};
use std::net::Ipv4Addr;

const LINKTYPE_ETHERNET: u32 = 1;

pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&[0; 8])?; // time zone, accuracy
        out.write_all(&65_535u32.to_le_bytes())?;
        out.write_all(&LINKTYPE_ETHERNET.to_le_bytes())?;
        Ok(PcapWriter { out })
    }

    /// Writes one UDP datagram captured at `ts_us`.
    pub fn udp(
        &mut self,
        ts_us: u64,
        src: (Ipv4Addr, u16),
        dst: (Ipv4Addr, u16),
        payload: &[u8],
    ) -> io::Result<()> {
        let ip_len = 20 + 8 + payload.len();
        let frame_len = 14 + ip_len;
        let mut h = Vec::with_capacity(16 + 42);
        h.extend(((ts_us / 1_000_000) as u32).to_le_bytes());
        h.extend(((ts_us % 1_000_000) as u32).to_le_bytes());
        h.extend((frame_len as u32).to_le_bytes());
        h.extend((frame_len as u32).to_le_bytes());
        h.extend([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[6] = 0x40; // don't fragment
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&src.0.octets());
        ip[16..20].copy_from_slice(&dst.0.octets());
        let sum = ip.chunks(2).map(|w| u16::from_be_bytes([w[0], w[1]]) as u32).sum::<u32>();
        let sum = (sum & 0xFFFF) + (sum >> 16);
        ip[10..12].copy_from_slice(&(!((sum & 0xFFFF) + (sum >> 16)) as u16).to_be_bytes());
        h.extend(ip);
        h.extend(src.1.to_be_bytes());
        h.extend(dst.1.to_be_bytes());
        h.extend(((8 + payload.len()) as u16).to_be_bytes());
        h.extend([0, 0]);
        self.out.write_all(&h)?;
        self.out.write_all(payload)
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_datagram_reads_back() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let (a, b) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(127, 0, 0, 1));
        w.udp(1_700_000_000_250_000, (a, 40_000), (b, 4739), b"hello").unwrap();
        let bytes = w.into_inner();
        let mut seen = Vec::new();
        plumb_collector::pcap::for_each_frame(&bytes[..], |f| {
            let u = plumb_collector::packet::datagram::outer_udp(f.linktype, f.data).unwrap().unwrap();
            seen.push((f.ts_us, u.src, u.dst_port, u.payload.to_vec()));
        })
        .unwrap();
        assert_eq!(seen, vec![(1_700_000_000_250_000i64, std::net::IpAddr::V4(a), 4739, b"hello".to_vec())]);
    }
}
