//! `respond.nacl_deny` against moto's EC2: entries appear once per address, only inside the
//! configured range, expire on a later run, and a dry run changes nothing.

use crate::moto::moto;
use crate::{pipeline, reasons, run, sdk};
use aws_sdk_ec2::types::RuleAction;
use serde_json::{Value, json};

fn alert(ip: &str) -> String {
    json!({"event": {"kind": "alert"}, "rule": {"name": "ssh_bruteforce"}, "source": {"ip": ip}})
        .to_string()
}

/// A new network ACL in a new VPC, with an allow-all entry at rule 50 (outside the range the
/// tests use) and someone else's deny at rule 101 (inside it).
async fn acl(ec2: &aws_sdk_ec2::Client) -> String {
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc
        .unwrap()
        .vpc_id
        .unwrap();
    let acl = ec2
        .create_network_acl()
        .vpc_id(vpc)
        .send()
        .await
        .unwrap()
        .network_acl
        .unwrap()
        .network_acl_id
        .unwrap();
    for (rule, action, cidr) in [
        (50, RuleAction::Allow, "0.0.0.0/0"),
        (101, RuleAction::Deny, "192.0.2.99/32"),
    ] {
        ec2.create_network_acl_entry()
            .network_acl_id(&acl)
            .rule_number(rule)
            .protocol("-1")
            .rule_action(action)
            .egress(false)
            .cidr_block(cidr)
            .send()
            .await
            .unwrap();
    }
    acl
}

/// The ingress entries, as (rule number, action, cidr), and the ACL's tags.
async fn acl_state(
    ec2: &aws_sdk_ec2::Client,
    acl: &str,
) -> (Vec<(i32, String, String)>, Vec<(String, String)>) {
    let out = ec2
        .describe_network_acls()
        .network_acl_ids(acl)
        .send()
        .await
        .unwrap();
    let acl = &out.network_acls()[0];
    let mut entries: Vec<(i32, String, String)> = acl
        .entries()
        .iter()
        .filter(|e| e.egress() == Some(false) && e.rule_number() != Some(32767))
        .map(|e| {
            (
                e.rule_number().unwrap(),
                e.rule_action().unwrap().as_str().to_string(),
                e.cidr_block()
                    .or(e.ipv6_cidr_block())
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    entries.sort();
    let mut tags: Vec<(String, String)> = acl
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    tags.sort();
    (entries, tags)
}

fn config(endpoint: &str, acl: &str, extra: Value) -> Value {
    let mut t = json!({
        "type": "respond.nacl_deny",
        "when": {"type": "string.eq", "source": "event.kind", "value": "alert"},
        "network_acl_id": acl,
        "rule_numbers": {"from": 100, "to": 103},
        "target": "response",
    });
    for (k, v) in extra.as_object().unwrap() {
        t[k] = v.clone();
    }
    json!({"aws": {"endpoint_url": endpoint, "region": "us-east-1"}, "transforms": [t]})
}

fn actions(p: &sluice_core::Processed) -> Vec<String> {
    p.output
        .iter()
        .map(|m| {
            sluice_core::testing::output_value(m)["response"]["action"]
                .as_str()
                .unwrap_or("-")
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn deny_entries_appear_once_per_address_inside_the_range_only() {
    let endpoint = moto();
    let ec2 = aws_sdk_ec2::Client::new(&sdk(endpoint).await);
    let acl = acl(&ec2).await;
    let p = pipeline(config(endpoint, &acl, json!({"exclude": ["10.0.0.0/8"]})));
    let input = vec![
        alert("203.0.113.1"),
        alert("203.0.113.2"),
        alert("203.0.113.1"),
        alert("2001:db8::7"),
        alert("10.1.2.3"),
        json!({"event": {"kind": "event"}, "source": {"ip": "203.0.113.50"}}).to_string(),
        json!({"event": {"kind": "alert"}}).to_string(),
    ];
    let out = run(&p, input).await;
    assert!(out.errors.is_empty(), "{:?}", reasons(&out));
    assert_eq!(
        actions(&out),
        vec!["added", "added", "added", "added", "excluded", "-", "-"]
    );
    let first = sluice_core::testing::output_value(&out.output[0]);
    assert_eq!(first["response"]["rule_number"], 100);
    assert_eq!(first["response"]["cidr"], "203.0.113.1/32");
    let (entries, tags) = acl_state(&ec2, &acl).await;
    assert_eq!(
        entries,
        vec![
            (50, "allow".into(), "0.0.0.0/0".into()),
            (100, "deny".into(), "203.0.113.1/32".into()),
            (101, "deny".into(), "192.0.2.99/32".into()),
            (102, "deny".into(), "203.0.113.2/32".into()),
            (103, "deny".into(), "2001:db8::7/128".into()),
        ]
    );
    assert_eq!(tags.len(), 3, "{tags:?}");
    assert!(tags[0].0 == "sluice:deny:100" && tags[0].1.starts_with("203.0.113.1/32 "));

    // The same addresses again add nothing; they extend their entries.
    let again = run(&p, vec![alert("203.0.113.2"), alert("2001:db8::7")]).await;
    assert_eq!(actions(&again), vec!["extended", "extended"]);
    assert_eq!(acl_state(&ec2, &acl).await.0.len(), 5);

    // The range is full: with `when_full: error` a new address is an error...
    let strict = pipeline(config(endpoint, &acl, json!({"when_full": "error"})));
    let refused = run(&strict, vec![alert("198.51.100.7")]).await;
    let r = reasons(&refused);
    assert_eq!(r.len(), 1);
    assert!(r[0].contains("every rule number from 100 to 103"), "{r:?}");
    // ...and by default the entry that expires soonest (203.0.113.1's, never extended) makes
    // room. Someone else's entry at 101 is never taken.
    let out = run(&p, vec![alert("198.51.100.7")]).await;
    assert_eq!(actions(&out), vec!["added"]);
    let (entries, _) = acl_state(&ec2, &acl).await;
    assert!(
        entries.contains(&(100, "deny".into(), "198.51.100.7/32".into())),
        "{entries:?}"
    );
    assert!(entries.contains(&(101, "deny".into(), "192.0.2.99/32".into())));
    assert!(entries.contains(&(50, "allow".into(), "0.0.0.0/0".into())));
    let account = p.account();
    assert!(
        account
            .counters
            .contains(&("transforms[0] (respond.nacl_deny) entries added".into(), 4)),
        "{account}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_entries_are_removed_by_a_later_run_and_dry_runs_change_nothing() {
    let endpoint = moto();
    let ec2 = aws_sdk_ec2::Client::new(&sdk(endpoint).await);
    let acl = acl(&ec2).await;
    let dry = pipeline(config(endpoint, &acl, json!({"dry_run": true})));
    let out = run(&dry, vec![alert("203.0.113.1")]).await;
    assert_eq!(actions(&out), vec!["would_add"]);
    let before = acl_state(&ec2, &acl).await;
    assert_eq!(before.0.len(), 2, "{before:?}");
    assert!(before.1.is_empty());

    let short = pipeline(config(
        endpoint,
        &acl,
        json!({"expire_after": "2s", "sweep_interval": "1ms"}),
    ));
    let out = run(&short, vec![alert("203.0.113.1"), alert("203.0.113.2")]).await;
    assert_eq!(actions(&out), vec!["added", "added"]);
    assert_eq!(acl_state(&ec2, &acl).await.0.len(), 4);
    // Once they have expired, the end of a later run sweeps them away, with their tags, and
    // leaves the others alone.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let out = run(&short, vec![]).await;
    assert!(out.errors.is_empty(), "{:?}", reasons(&out));
    let (entries, tags) = acl_state(&ec2, &acl).await;
    assert_eq!(
        entries,
        vec![
            (50, "allow".into(), "0.0.0.0/0".into()),
            (101, "deny".into(), "192.0.2.99/32".into()),
        ]
    );
    assert!(tags.is_empty(), "{tags:?}");
    assert!(short.account().counters.contains(&(
        "transforms[0] (respond.nacl_deny) expired entries removed".into(),
        2
    )));
}
