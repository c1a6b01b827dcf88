//! Live Open vSwitch end to end: OVS on its userspace datapath in network namespaces made
//! by `tests/ovs/lab.sh` (two veth "VMs" and a VXLAN port to a Linux `vxlan` peer),
//! `plumb collect` started first in the switch namespace, then IPFIX, NetFlow and sFlow
//! export turned on and pings sent; the store must hold the VXLAN rows with the right VNI
//! and endpoints from IPFIX and from sFlow's sampled headers and tunnel records. Where the lab cannot be made here (not root, no network namespaces, OVS or a
//! tool missing: `lab.sh up` exits 3) the test reports a skip through `common::skip`, which
//! is a failure under `PLUMB_REQUIRE_ALL=1`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::process;
use common::skip::skip;

fn lab_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ovs/lab.sh")
}

fn lab_cmd(args: &[&str]) -> std::process::Output {
    Command::new("bash").arg(lab_script()).args(args).output().expect("running lab.sh")
}

/// Tears the lab down (and with it the collector inside) whatever happens.
struct Lab {
    wd: PathBuf,
    collector: Option<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.collector.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = lab_cmd(&["down", self.wd.to_str().unwrap()]);
    }
}

fn query(data: &Path, sql: &str) -> String {
    process::query_csv(data, sql)
}

#[test]
fn live_ovs_vxlan_rows_reach_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let wd = dir.path().join("lab");
    std::fs::create_dir_all(&wd).unwrap();
    let wds = wd.to_str().unwrap();
    let up = lab_cmd(&["up", wds]);
    if up.status.code() == Some(3) {
        let why = String::from_utf8_lossy(&up.stdout);
        let why = why.trim().trim_start_matches("SKIP: ");
        skip("live_ovs_vxlan_rows_reach_the_store", &format!("the OVS lab cannot be made here: {why}"));
        return;
    }
    let mut lab = Lab { wd: wd.clone(), collector: None };
    assert!(up.status.success(), "lab up failed:\n{}", String::from_utf8_lossy(&up.stderr));

    let data = dir.path().join("store");
    let log = dir.path().join("collector.log");
    let (ipfix, netflow, sflow) = (process::free_port(), process::free_port(), process::free_port());
    let metrics_port = process::free_port();
    let child = Command::new("bash")
        .arg(lab_script())
        .args(["exec", wds, env!("CARGO_BIN_EXE_plumb"), "collect", "--data", data.to_str().unwrap()])
        .args(["--listen", &format!("127.0.0.1:{ipfix}"), "--listen", &format!("127.0.0.1:{netflow}")])
        .args(["--listen", &format!("127.0.0.1:{sflow}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}"), "--flush-interval", "1"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    lab.collector = Some(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("listening on") {
        assert!(
            Instant::now() < deadline,
            "collector did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let out = lab_cmd(&["export", wds, &ipfix.to_string(), &netflow.to_string(), &sflow.to_string()]);
    assert!(out.status.success(), "export: {}", String::from_utf8_lossy(&out.stderr));
    let out = lab_cmd(&["traffic", wds]);
    assert!(
        out.status.success(),
        "traffic: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Records arrive within ~2 s (cache_active_timeout=2), rows within a flush after that.
    let vxlan_sql = "SELECT DISTINCT src_addr, dst_addr, protocol, dst_port, tunnel_type, tunnel_key, \
                     tunnel_src, tunnel_dst, inner_src_addr, inner_dst_addr, inner_protocol \
                     FROM flows WHERE source_kind = 'ipfix' AND tunnel_type = 'vxlan' AND inner_protocol = 1 \
                     ORDER BY inner_src_addr";
    let netflow_sql = "SELECT sum(packets) AS p FROM flows WHERE source_kind = 'netflow_v5' \
                       AND src_addr = '10.200.0.1' AND dst_addr = '10.200.0.2' AND protocol = 1";
    // sFlow samples each packet: its header is the packet inside the tunnel, the tunnel
    // record the outside (ports put back into network order), in both directions.
    let sflow_sql = "SELECT DISTINCT src_addr, dst_addr, protocol, dst_port, tunnel_type, tunnel_key, \
                     inner_src_addr, inner_dst_addr, inner_protocol, bytes \
                     FROM flows WHERE source_kind = 'sflow' AND tunnel_type = 'vxlan' AND inner_protocol = 1 \
                     ORDER BY src_addr";
    let deadline = Instant::now() + Duration::from_secs(20);
    let (vxlan, nf, sf) = loop {
        let v = query(&data, vxlan_sql);
        let n = query(&data, netflow_sql);
        let s = query(&data, sflow_sql);
        let done = v.lines().count() > 1 && n.trim() == "p\n5".trim() && s.lines().count() > 2;
        if done || Instant::now() > deadline {
            break (v, n, s);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    // The ping replies come back from the peer through the tunnel: outer 172.31.1.2 ->
    // 172.31.1.1 UDP 4789, VNI 5001, inner 10.200.0.2 -> 10.200.0.1 ICMP.
    assert_eq!(
        vxlan,
        "src_addr,dst_addr,protocol,dst_port,tunnel_type,tunnel_key,tunnel_src,tunnel_dst,inner_src_addr,inner_dst_addr,inner_protocol\n\
         172.31.1.2,172.31.1.1,17,4789,vxlan,5001,172.31.1.2,172.31.1.1,10.200.0.2,10.200.0.1,1\n",
        "collector log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(nf, "p\n5\n", "NetFlow v5: the 5 pings vm1 -> peer");
    // A ping is 84 bytes of IP; sampling 1 in 1 scales nothing.
    assert_eq!(
        sf,
        "src_addr,dst_addr,protocol,dst_port,tunnel_type,tunnel_key,inner_src_addr,inner_dst_addr,inner_protocol,bytes\n\
         172.31.1.1,172.31.1.2,17,4789,vxlan,5001,10.200.0.1,10.200.0.2,1,84\n\
         172.31.1.2,172.31.1.1,17,4789,vxlan,5001,10.200.0.2,10.200.0.1,1,84\n",
        "collector log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // Counter samples of the bridge's ports (every 2 s), and each tunnel record repaired.
    let metrics_of = || {
        let out = lab_cmd(&["exec", wds, "curl", "-sf", &format!("http://127.0.0.1:{metrics_port}/metrics")]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let counters_of = |m: &str| process::metric_value(m, "plumb_sflow_samples_total{kind=\"counter\"}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let (metrics, counters) = loop {
        let m = metrics_of();
        let c = counters_of(&m);
        if c >= 6.0 || Instant::now() > deadline {
            break (m, c);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(counters >= 6.0, "two rounds of counter samples of vm1, vm2 and br-int:\n{metrics}");
    let repaired = process::metric_value(
        &metrics,
        "plumb_records_repaired_total{exporter=\"127.0.0.1\",protocol=\"sflow\"}",
    );
    assert!(repaired >= 2.0, "every tunnel record repaired, both directions:\n{metrics}");

    // Stop the collector by its PID: it flushes and exits cleanly.
    let mut child = lab.collector.take().unwrap();
    // SAFETY: kill(2) on the PID of a child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "collector exit: {status}");
    // Each counter sample is a row of `interface_counters`: the bridge's ports by name,
    // with the octets the ping traffic moved through vm1.
    let ports = query(
        &data,
        "SELECT if_name, count(*) > 0 AS sampled, max(in_octets + out_octets) > 0 AS moved, \
         max(if_speed) AS speed FROM interface_counters WHERE if_name IN ('vm1', 'vm2') GROUP BY if_name ORDER BY if_name",
    );
    assert_eq!(ports, "if_name,sampled,moved,speed\nvm1,true,true,10000000000\nvm2,true,true,10000000000\n");
}
