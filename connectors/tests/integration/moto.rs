//! A real moto server (AWS APIs on 127.0.0.1), started once per test binary on a free port.
//!
//! `scripts/setup-test-services` installs moto into `.venv`; without it the tests fail with a
//! message saying so, rather than passing without having tested anything.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The shared server; the process is killed when the test binary exits (see `Guard`).
pub fn moto() -> &'static str {
    static SERVER: OnceLock<Moto> = OnceLock::new();
    let server = SERVER.get_or_init(|| {
        let bin = repo().join(".venv/bin/moto_server");
        assert!(
            bin.exists(),
            "moto is not installed: run scripts/setup-test-services (scripts/test does it first)"
        );
        let port = free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        let started = Instant::now();
        while get(port, "/moto-api/").is_none_or(|r| !r.contains("200")) {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto did not start within 30s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        kill_at_exit(child.id());
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        }
    });
    &server.endpoint
}

/// Statics are never dropped, so kill the server when the process exits.
fn kill_at_exit(pid: u32) {
    static PID: OnceLock<u32> = OnceLock::new();
    let _ = PID.set(pid);
    extern "C" fn kill_server() {
        if let Some(pid) = PID.get() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
    unsafe extern "C" {
        fn atexit(f: extern "C" fn()) -> i32;
    }
    // SAFETY: registering a plain function with the C runtime's exit hooks.
    unsafe {
        atexit(kill_server);
    }
}

/// Test credentials and region for the SDK, pointing at moto.
pub fn env() {
    // SAFETY: set before any client is built; tests only read these.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::set_var("AWS_REGION", "us-east-1");
    }
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}
