//! `sluice test`: run the tests that configs carry and print pass/fail with readable diffs.

use anyhow::Result;
use sluice_core::{Config, Resources, testing};
use std::path::PathBuf;
use std::process::ExitCode;

pub fn test(paths: Vec<PathBuf>) -> Result<ExitCode> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("configs")]
    } else {
        paths
    };
    let mut files = Vec::new();
    for p in &paths {
        if p.is_dir() {
            files.extend(sluice_core::config::find_configs(p));
        } else {
            files.push(p.clone());
        }
    }
    let registry = sluice_connectors::registry();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (mut passed, mut failed, mut broken) = (0, 0, 0);
    for file in files {
        let config = match Config::load(&file) {
            Ok(c) => c,
            Err(e) => {
                broken += 1;
                println!("BROKEN {}\n{}", file.display(), indent(&e.to_string()));
                continue;
            }
        };
        if config.tests.is_empty() {
            continue;
        }
        if let Err(e) = config.build(&registry, &Resources::default()) {
            broken += 1;
            println!("BROKEN {}\n{}", file.display(), indent(&e.to_string()));
            continue;
        }
        let reports = runtime.block_on(testing::run_tests(
            &config,
            &registry,
            &Resources::default(),
        ));
        for r in reports {
            if r.passed {
                passed += 1;
                println!("ok     {} :: {}", file.display(), r.name);
            } else {
                failed += 1;
                println!(
                    "FAILED {} :: {}\n{}",
                    file.display(),
                    r.name,
                    indent(&r.detail)
                );
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if broken > 0 {
        println!("{broken} config(s) did not load or build");
    }
    Ok(if failed == 0 && broken == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}
