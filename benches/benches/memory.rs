//! Memory of `sluice run` over a long stream: 10,000,000 VPC flow log lines piped through the
//! release binary with the shipped ECS pipeline (`configs/ecs/vpc_flow.jsonnet`), output
//! discarded. Prints the resident set size after each million lines and the peak, which must
//! stay flat (the product's budget is 100 MB): batches are bounded, nothing accumulates per
//! event. Not a criterion bench: one run, figures printed.
//!
//! `cargo bench -p sluice-benches --bench memory` (builds `sluice` in release first).
//! `SLUICE_MEMORY_EVENTS` changes the count.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// A field of /proc/<pid>/status in kB (`VmRSS`, `VmHWM`).
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A v2 flow log line; addresses, ports and counts vary so no two lines are alike.
fn line(i: u64, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "2 123456789012 eni-0a1b2c3d4e5f6000{} 10.0.{}.{} 81.2.69.{} {} 443 6 {} {} {} {} {} OK",
        i % 4,
        (i / 250) % 250,
        i % 250 + 1,
        i % 200 + 1,
        1024 + i % 60000,
        i % 100 + 1,
        (i % 100 + 1) * 84,
        1_795_414_861 + i / 1000,
        1_795_414_920 + i / 1000,
        if i.is_multiple_of(7) {
            "REJECT"
        } else {
            "ACCEPT"
        },
    )
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter this bench ignores.
    let events: u64 = std::env::var("SLUICE_MEMORY_EVENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000_000);
    let built = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "-p", "sluice"])
        .current_dir(repo())
        .status()
        .expect("running cargo build");
    assert!(built.success(), "building sluice failed");
    let started = Instant::now();
    let mut child = Command::new(repo().join("target/release/sluice"))
        .args([
            "run",
            "-q",
            "-o",
            "none",
            "-c",
            "configs/ecs/vpc_flow.jsonnet",
            "-",
        ])
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("starting sluice");
    let pid = child.id();
    let mut input = BufWriter::with_capacity(1 << 20, child.stdin.take().unwrap());
    let mut peak = 0;
    for i in 0..events {
        line(i, &mut input).expect("writing to sluice");
        if (i + 1).is_multiple_of(1_000_000) {
            let rss = status_kb(pid, "VmRSS").unwrap_or(0);
            peak = status_kb(pid, "VmHWM").unwrap_or(peak);
            println!(
                "{:>3}M lines: RSS {:.1} MB, peak so far {:.1} MB",
                (i + 1) / 1_000_000,
                rss as f64 / 1024.0,
                peak as f64 / 1024.0
            );
        }
    }
    input.flush().unwrap();
    // The peak just before the process ends (it has read everything once stdin closes).
    peak = status_kb(pid, "VmHWM").unwrap_or(peak);
    drop(input);
    let status = child.wait().unwrap();
    assert!(status.success(), "sluice failed: {status}");
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{events} lines in {secs:.1} s ({:.0} lines/s, all threads, generator included); peak RSS {:.1} MB",
        events as f64 / secs,
        peak as f64 / 1024.0
    );
}
