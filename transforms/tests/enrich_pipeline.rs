//! The shipped enrichment pipeline (`configs/enrich/console_login.jsonnet`): its config tests
//! pass, the sample CloudTrail file goes through with its two console sign-ins enriched, and
//! with `nameservers` set, reverse DNS against a real DNS server on a loopback port fills
//! `source.domain`.
//!
//! The config names its stores relative to the repository root, so these tests run from there
//! (this file is its own test binary, so changing the directory touches no other test).

use serde_json::{Value, json};
use sluice_core::testing::{output_value, run_tests};
use sluice_core::{Config, Message, Resources};
use sluice_transforms::dns_test_server::Zones;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(path: &std::path::Path) -> Config {
    std::env::set_current_dir(repo()).unwrap();
    Config::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn config_tests_pass() {
    for (path, at_least) in [
        ("configs/enrich/console_login.jsonnet", 5),
        ("configs/examples/enrich.jsonnet", 2),
    ] {
        let config = load(&repo().join(path));
        let reports = run_tests(
            &config,
            &sluice_transforms::registry(),
            &Resources::default(),
        )
        .await;
        assert!(reports.len() >= at_least, "{path}");
        let failed: Vec<String> = reports
            .iter()
            .filter(|r| !r.passed)
            .map(|r| format!("{path}: {}:\n{}", r.name, r.detail))
            .collect();
        assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    }
}

#[tokio::test]
async fn sample_file_and_reverse_dns_against_a_local_server() {
    let dns = Zones::new()
        .ptr(
            "81.2.69.160".parse().unwrap(),
            "office-gw.london.example.net",
        )
        .serve()
        .await;
    let dir = std::env::temp_dir().join(format!("sluice-enrich-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wrapper = dir.join("with_dns.jsonnet");
    std::fs::write(
        &wrapper,
        format!(
            "(import '{}') + {{ nameservers:: ['{}'] }}",
            repo()
                .join("configs/enrich/console_login.jsonnet")
                .display(),
            dns.nameserver()
        ),
    )
    .unwrap();
    let config = load(&wrapper);
    let pipeline = config
        .build(&sluice_transforms::registry(), &Resources::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(repo().join("examples/data/cloudtrail/single-events.jsonl"))
        .unwrap();
    let batch: Vec<Message> = text.lines().map(|l| Message::new(l.as_bytes())).collect();
    let total = batch.len();
    let p = pipeline.process(batch).await.unwrap();
    assert!(p.errors.is_empty());
    let out: Vec<Value> = p.output.iter().map(output_value).collect();
    assert_eq!(out.len(), 2, "two console sign-ins in the sample");
    // alice from London: a PTR record; bob from Linköping: none (NXDOMAIN), so no domain.
    assert_eq!(out[0]["user"]["full_name"], json!("Alice Lindqvist"));
    assert_eq!(
        out[0]["source"]["domain"],
        json!("office-gw.london.example.net")
    );
    assert_eq!(out[0]["source"]["geo"]["city_name"], json!("London"));
    assert_eq!(out[1]["source"]["as"]["number"], json!(29518));
    assert!(out[1]["source"].get("domain").is_none());
    let account = pipeline.account();
    assert_eq!(account.totals.dropped, (total - 2) as u64);
    assert!(
        account
            .counters
            .iter()
            .any(|(n, v)| n == "stores.city (cache) misses" && *v == 2),
        "{:?}",
        account.counters
    );
    std::fs::remove_dir_all(dir).unwrap();
    dns.stop().await;
}
