//! Running the real `plumb` binary: a collector on loopback, stopped by PID with SIGTERM,
//! and one-shot subcommands.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn plumb() -> Command {
    Command::new(env!("CARGO_BIN_EXE_plumb"))
}

/// Runs `plumb ARGS`, asserting success; returns stdout.
pub fn run(args: &[&str]) -> String {
    let out: Output = plumb().args(args).output().expect("running plumb");
    assert!(
        out.status.success(),
        "plumb {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `plumb generate` for a day of `flows` on 2025-03-03 into `out`; returns stdout.
pub fn generate(out: &Path, flows: u64, seed: &str) -> String {
    let flows = flows.to_string();
    let out = out.to_str().unwrap();
    run(&["generate", "--flows", &flows, "--seed", seed, "--date", "2025-03-03", "--quiet", "--out", out])
}

/// Runs `plumb query --format csv SQL` over the store at `data`; returns the CSV.
pub fn query_csv(data: &Path, sql: &str) -> String {
    run(&["query", "--data", data.to_str().unwrap(), "--format", "csv", sql])
}

/// A free UDP port on loopback (also free for TCP, as far as can be told).
pub fn free_port() -> u16 {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub struct Collector {
    child: Option<Child>,
    pub data: PathBuf,
    pub port: u16,
    pub metrics_port: u16,
    pub log: PathBuf,
}

impl Collector {
    /// Starts `plumb collect` on a free loopback port with a 1 s flush interval and waits
    /// until /healthz answers.
    pub fn start(data: &Path) -> Collector {
        Self::start_with(data, free_port(), &[])
    }

    pub fn start_with(data: &Path, port: u16, extra: &[&str]) -> Collector {
        let metrics_port = free_port();
        let log = data.with_extension(format!("collector-{port}.log"));
        let logf = std::fs::File::create(&log).unwrap();
        let child = plumb()
            .args(["collect", "--data"])
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
            .args(["--flush-interval", "1"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("starting plumb collect");
        let c = Collector { child: Some(child), data: data.to_path_buf(), port, metrics_port, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while c.http("/healthz").is_none() {
            assert!(Instant::now() < deadline, "collector did not come up:\n{}", c.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
        c
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET on the metrics server; the body, if it answered 200.
    pub fn http(&self, path: &str) -> Option<String> {
        http_get(self.metrics_port, path)
    }

    pub fn metrics(&self) -> String {
        self.http("/metrics").expect("metrics endpoint")
    }

    /// Sum of a metric's samples (all label sets).
    pub fn metric_sum(&self, name: &str) -> f64 {
        sum_metric(&self.metrics(), name)
    }

    /// Polls until `cond` holds on the metrics text, or panics after `secs`.
    pub fn wait_metrics(&self, secs: u64, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let m = self.metrics();
            if cond(&m) {
                return m;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}:\n{m}\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL: a crash, nothing flushed.
    pub fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        // SAFETY: kill(2) on the PID of a child this process started.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "collector exited with {status}:\n{}", self.log_text());
                return;
            }
            assert!(Instant::now() < deadline, "collector did not stop:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// GET `path` from a server on a loopback port; the body, if it answered 200.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    (head.split(' ').nth(1) == Some("200")).then(|| body.to_string())
}

pub fn sum_metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The value of one series, written with its labels as the exposition has them
/// (`name{a="x"}`), 0 when it is not there.
pub fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Whether a Debian tool is on the PATH (the test setup installs it).
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
