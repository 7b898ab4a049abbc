//! `respond.nacl_deny`: answer an alert by denying its source address at a VPC network ACL.
//!
//! Each address becomes one deny entry (`/32`, or `/128` for IPv6) with a rule number from the
//! configured range; entries outside the range are never read for reuse, changed or removed.
//! When an entry's address comes back, its expiry moves on instead of a second entry being
//! added. The expiry of each entry is kept in a tag on the ACL itself (`sluice:deny:<rule>` =
//! `<cidr> <expiry>`), so no other store is needed: every batch (and the runner's timer, and the
//! end of each run, at most every `sweep_interval`) removes the entries whose expiry has passed.
//!
//! Batches in one process take turns. Two processes adding the same new address at the same
//! moment may both add it; the next sweep keeps the lowest-numbered entry and removes the other.

use crate::aws::{AwsContext, AwsSettings};
use aws_sdk_ec2::types::{NetworkAcl, RuleAction, Tag};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_core::{BatchItem, Failed, Io, Message, Output, Path, Registry, TransformError};
use sluice_transforms::batch::Duration;
use sluice_transforms::conditions::network::Cidr;
use sluice_transforms::time::format_time;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;
use tokio::sync::{Mutex, OnceCell};

pub fn register(r: &mut Registry) {
    r.io("respond.nacl_deny", |s: NaclDenySettings, b| {
        if !s.network_acl_id.starts_with("acl-") {
            return Err(b.fail(format!(
                "field `network_acl_id`: `{}` is not a network ACL id (acl-...)",
                s.network_acl_id
            )));
        }
        let RuleRange { from, to } = s.rule_numbers;
        if !(1..=32766).contains(&from) || !(1..=32766).contains(&to) || from > to {
            return Err(b.fail(format!(
                "field `rule_numbers`: must be a range within 1-32766 with `from` <= `to` (found {from}-{to})"
            )));
        }
        if s.expire_after.is_zero() {
            return Err(b.fail("field `expire_after`: must be longer than 0s"));
        }
        let mut exclude = Vec::new();
        for (i, text) in s.exclude.iter().enumerate() {
            match Cidr::parse(text) {
                Some(c) => exclude.push(c),
                None => {
                    return Err(b.fail(format!(
                        "field `exclude[{i}]`: `{text}` is not an address or CIDR block"
                    )));
                }
            }
        }
        let aws = AwsContext::for_transform(b, &s.aws)?;
        let m = b.resources.metrics();
        let counter = |what: &str| m.counter(&format!("{} {what}", b.location()));
        Ok(NaclDeny {
            counters: Counters {
                added: counter("entries added"),
                refreshed: counter("entries extended"),
                removed: counter("expired entries removed"),
                excluded: counter("excluded addresses"),
                dry_run: counter("dry-run actions"),
            },
            exclude,
            aws,
            client: OnceCell::new(),
            turn: Mutex::new(None),
            s,
        })
    });
}

/// Deny traffic from an alert's source address at a VPC network ACL: one deny entry per
/// address (`/32` or `/128`, all protocols) with a rule number from `rule_numbers`, never
/// touching entries outside that range. The same address again is the same entry, its expiry
/// extended; entries expire after `expire_after` and a later batch, the runner's timer or the
/// end of a run removes them (their expiry is kept in tags on the ACL). `exclude` lists
/// addresses never to deny. `dry_run` logs what would be done and changes nothing. Messages
/// pass on; `target` receives what was done. Use it with a `when` that picks the alerts.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct NaclDenySettings {
    /// The network ACL, e.g. `acl-0123456789abcdef0`.
    pub network_acl_id: String,
    /// The field holding the address to deny.
    #[serde(default = "default_source")]
    pub source: Path,
    /// The rule numbers this transform may use, e.g. `{"from": 100, "to": 119}`. A NACL applies
    /// the lowest-numbered matching rule, so keep the range below your allow rules.
    pub rule_numbers: RuleRange,
    /// How long an entry stays; an alert for the same address extends it.
    #[serde(default = "default_expiry")]
    pub expire_after: Duration,
    /// Deny traffic to the address leaving the subnet (an egress entry) rather than traffic
    /// from it entering.
    #[serde(default)]
    pub egress: bool,
    /// Addresses never to deny (your own networks, your scanners), as addresses or CIDR blocks.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// When every rule number in the range is taken: `replace_oldest` (the entry that expires
    /// soonest makes room) or `error` (the message goes to the error route).
    #[serde(default)]
    pub when_full: WhenFull,
    /// Log what would be done and change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Where to write what was done: `{action, network_acl_id, rule_number, cidr, expires}`.
    #[serde(default)]
    pub target: Option<Path>,
    /// How often, at most, to look for expired entries when no alert arrives (on the runner's
    /// timer and at the end of a run).
    #[serde(default = "default_sweep")]
    pub sweep_interval: Duration,
    /// AWS settings for this transform, over the config's `aws` section.
    #[serde(default)]
    pub aws: Option<AwsSettings>,
}

/// A range of NACL rule numbers, both ends included.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleRange {
    /// The lowest rule number to use.
    pub from: i32,
    /// The highest rule number to use.
    pub to: i32,
}

/// What to do when the range is full.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Remove the entry that expires soonest to make room.
    #[default]
    ReplaceOldest,
    /// Send the message to the error route.
    Error,
}

fn default_source() -> Path {
    Path::parse("source.ip")
}

fn default_expiry() -> Duration {
    Duration::from_secs(86_400)
}

fn default_sweep() -> Duration {
    Duration::from_secs(300)
}

const TAG_PREFIX: &str = "sluice:deny:";

struct Counters {
    added: Arc<AtomicU64>,
    refreshed: Arc<AtomicU64>,
    removed: Arc<AtomicU64>,
    excluded: Arc<AtomicU64>,
    dry_run: Arc<AtomicU64>,
}

pub struct NaclDeny {
    s: NaclDenySettings,
    exclude: Vec<Cidr>,
    counters: Counters,
    aws: Arc<AwsContext>,
    client: OnceCell<aws_sdk_ec2::Client>,
    /// Batches take turns; holds when the last sweep ran.
    turn: Mutex<Option<Instant>>,
}

/// An address and its prefix length.
type HostCidr = (IpAddr, u8);

/// One of this transform's entries, as the ACL holds it.
#[derive(Debug, Clone)]
struct Entry {
    cidr: Option<(IpAddr, u8)>,
    /// From the entry's tag; `None` for an entry in the range without one (left alone).
    expires: Option<DateTime<Utc>>,
}

/// The ACL's entries in this transform's range and direction, by rule number.
struct View {
    entries: BTreeMap<i32, Entry>,
    /// Tags of this transform whose entry is gone.
    orphan_tags: Vec<String>,
}

impl View {
    /// Notes an entry of this transform's, as added or extended.
    fn record(&mut self, rule: i32, cidr: HostCidr, expires: DateTime<Utc>) {
        let entry = Entry {
            cidr: Some(cidr),
            expires: Some(expires),
        };
        self.entries.insert(rule, entry);
    }
}

/// What was done for one address.
#[derive(Debug, Clone)]
struct Done {
    action: &'static str,
    rule_number: Option<i32>,
    cidr: String,
    expires: Option<DateTime<Utc>>,
}

fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = text.split_once('/')?;
    Some((addr.parse().ok()?, prefix.parse().ok()?))
}

fn host_cidr(ip: IpAddr) -> (IpAddr, u8) {
    match ip {
        IpAddr::V4(_) => (ip, 32),
        IpAddr::V6(_) => (ip, 128),
    }
}

fn cidr_text((ip, prefix): (IpAddr, u8)) -> String {
    format!("{ip}/{prefix}")
}

fn aws_error(what: &str, e: impl std::error::Error) -> String {
    format!(
        "EC2 {what} failed: {}",
        aws_sdk_ec2::error::DisplayErrorContext(e)
    )
}

impl NaclDeny {
    async fn client(&self) -> &aws_sdk_ec2::Client {
        match self.client.get() {
            Some(c) => c,
            None => {
                let sdk = self.aws.sdk().await;
                self.client
                    .get_or_init(|| async { aws_sdk_ec2::Client::new(sdk) })
                    .await
            }
        }
    }

    fn in_range(&self, rule: i32) -> bool {
        (self.s.rule_numbers.from..=self.s.rule_numbers.to).contains(&rule)
    }

    async fn describe(&self) -> Result<View, String> {
        let out = self
            .client()
            .await
            .describe_network_acls()
            .network_acl_ids(&self.s.network_acl_id)
            .send()
            .await
            .map_err(|e| aws_error("DescribeNetworkAcls", e))?;
        let acl: &NetworkAcl = out
            .network_acls()
            .first()
            .ok_or_else(|| format!("network ACL `{}` was not found", self.s.network_acl_id))?;
        let tags: HashMap<i32, (Option<HostCidr>, Option<DateTime<Utc>>)> = acl
            .tags()
            .iter()
            .filter_map(|t| {
                let rule = t.key()?.strip_prefix(TAG_PREFIX)?.parse::<i32>().ok()?;
                let mut parts = t.value().unwrap_or_default().split_whitespace();
                let cidr = parts.next().and_then(parse_cidr);
                let expires = parts.next().and_then(sluice_transforms::time::parse_time);
                Some((rule, (cidr, expires)))
            })
            .collect();
        let mut entries = BTreeMap::new();
        for e in acl.entries() {
            let Some(rule) = e.rule_number() else {
                continue;
            };
            if e.egress() != Some(self.s.egress) || !self.in_range(rule) {
                continue;
            }
            let cidr = e.cidr_block().or(e.ipv6_cidr_block()).and_then(parse_cidr);
            let tagged = tags.get(&rule).filter(|(c, _)| *c == cidr);
            let ours = tagged.is_some() && e.rule_action() == Some(&RuleAction::Deny);
            entries.insert(
                rule,
                Entry {
                    cidr,
                    expires: if ours { tagged.and_then(|t| t.1) } else { None },
                },
            );
        }
        let orphan_tags = tags
            .keys()
            .filter(|r| self.in_range(**r) && !entries.contains_key(r))
            .map(|r| format!("{TAG_PREFIX}{r}"))
            .collect();
        Ok(View {
            entries,
            orphan_tags,
        })
    }

    async fn delete(&self, rule: i32, why: &str) -> Result<(), String> {
        if self.s.dry_run {
            tracing::info!(acl = %self.s.network_acl_id, rule, "dry run: would remove the deny entry ({why})");
            self.counters.dry_run.fetch_add(1, Relaxed);
            return Ok(());
        }
        let client = self.client().await;
        client
            .delete_network_acl_entry()
            .network_acl_id(&self.s.network_acl_id)
            .rule_number(rule)
            .egress(self.s.egress)
            .send()
            .await
            .map_err(|e| aws_error("DeleteNetworkAclEntry", e))?;
        self.untag(vec![format!("{TAG_PREFIX}{rule}")]).await?;
        tracing::info!(acl = %self.s.network_acl_id, rule, "removed the deny entry ({why})");
        Ok(())
    }

    async fn untag(&self, keys: Vec<String>) -> Result<(), String> {
        if keys.is_empty() || self.s.dry_run {
            return Ok(());
        }
        let tags = keys
            .into_iter()
            .map(|k| Tag::builder().key(k).build())
            .collect();
        self.client()
            .await
            .delete_tags()
            .resources(&self.s.network_acl_id)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| aws_error("DeleteTags", e))?;
        Ok(())
    }

    async fn tag(&self, rule: i32, cidr: &str, expires: DateTime<Utc>) -> Result<(), String> {
        self.client()
            .await
            .create_tags()
            .resources(&self.s.network_acl_id)
            .tags(
                Tag::builder()
                    .key(format!("{TAG_PREFIX}{rule}"))
                    .value(format!("{cidr} {}", format_time(expires)))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws_error("CreateTags", e))?;
        Ok(())
    }

    /// Removes expired entries, second copies of an address, and tags left without an entry.
    async fn sweep(&self, view: &mut View, now: DateTime<Utc>) -> Result<(), String> {
        let mut first_of: HashMap<(IpAddr, u8), i32> = HashMap::new();
        let mut remove = Vec::new();
        for (rule, e) in &view.entries {
            let Some(expires) = e.expires else { continue };
            if expires <= now {
                remove.push((*rule, "expired"));
            } else if let Some(cidr) = e.cidr {
                // Rules are visited lowest first: a later one for the same address is a copy.
                if first_of.insert(cidr, *rule).is_some() {
                    remove.push((*rule, "a second entry for the same address"));
                }
            }
        }
        for (rule, why) in remove {
            self.delete(rule, why).await?;
            view.entries.remove(&rule);
            if why == "expired" && !self.s.dry_run {
                self.counters.removed.fetch_add(1, Relaxed);
            }
        }
        self.untag(std::mem::take(&mut view.orphan_tags)).await
    }

    /// Denies one address (or extends its entry), given the ACL as it is now.
    async fn deny(
        &self,
        view: &mut View,
        cidr: (IpAddr, u8),
        now: DateTime<Utc>,
    ) -> Result<Done, String> {
        let expires = now
            + chrono::Duration::from_std(self.s.expire_after.get())
                .unwrap_or(chrono::Duration::days(1));
        let text = cidr_text(cidr);
        let done = |action, rule| Done {
            action,
            rule_number: Some(rule),
            cidr: text.clone(),
            expires: Some(expires),
        };
        if let Some((&rule, e)) = view.entries.iter().find(|(_, e)| e.cidr == Some(cidr)) {
            if e.expires.is_none() {
                // Someone else's entry in the range already covers it: leave it as it is.
                return Ok(Done {
                    expires: None,
                    ..done("already_present", rule)
                });
            }
            if self.s.dry_run {
                tracing::info!(acl = %self.s.network_acl_id, rule, cidr = %text, "dry run: would extend the deny entry");
                self.counters.dry_run.fetch_add(1, Relaxed);
                return Ok(done("would_extend", rule));
            }
            self.tag(rule, &text, expires).await?;
            view.record(rule, cidr, expires);
            self.counters.refreshed.fetch_add(1, Relaxed);
            return Ok(done("extended", rule));
        }
        for _attempt in 0..5 {
            let rule = match (self.s.rule_numbers.from..=self.s.rule_numbers.to)
                .find(|r| !view.entries.contains_key(r))
            {
                Some(free) => free,
                None => {
                    let oldest = view
                        .entries
                        .iter()
                        .filter_map(|(r, e)| e.expires.map(|x| (x, *r)))
                        .min();
                    match (self.s.when_full, oldest) {
                        (WhenFull::ReplaceOldest, Some((_, rule))) => {
                            self.delete(rule, "the range is full; it expires soonest")
                                .await?;
                            view.entries.remove(&rule);
                            rule
                        }
                        _ => {
                            return Err(format!(
                                "every rule number from {} to {} in network ACL `{}` is taken; \
                                 widen `rule_numbers` or set `when_full: replace_oldest`",
                                self.s.rule_numbers.from,
                                self.s.rule_numbers.to,
                                self.s.network_acl_id
                            ));
                        }
                    }
                }
            };
            if self.s.dry_run {
                tracing::info!(acl = %self.s.network_acl_id, rule, cidr = %text, "dry run: would add a deny entry");
                self.counters.dry_run.fetch_add(1, Relaxed);
                view.record(rule, cidr, expires);
                return Ok(done("would_add", rule));
            }
            let mut create = self
                .client()
                .await
                .create_network_acl_entry()
                .network_acl_id(&self.s.network_acl_id)
                .rule_number(rule)
                .protocol("-1")
                .rule_action(RuleAction::Deny)
                .egress(self.s.egress);
            create = match cidr.0 {
                IpAddr::V4(_) => create.cidr_block(&text),
                IpAddr::V6(_) => create.ipv6_cidr_block(&text),
            };
            match create.send().await {
                Ok(_) => {
                    self.tag(rule, &text, expires).await?;
                    view.record(rule, cidr, expires);
                    self.counters.added.fetch_add(1, Relaxed);
                    tracing::info!(acl = %self.s.network_acl_id, rule, cidr = %text, "added a deny entry");
                    return Ok(done("added", rule));
                }
                Err(e)
                    if e.as_service_error()
                        .and_then(|s| s.meta().code())
                        .is_some_and(|c| c == "NetworkAclEntryAlreadyExists") =>
                {
                    // Another process took the number: look again.
                    *view = self.describe().await?;
                    if let Some((&rule, _)) =
                        view.entries.iter().find(|(_, e)| e.cidr == Some(cidr))
                    {
                        return Ok(done("already_present", rule));
                    }
                }
                Err(e) => return Err(aws_error("CreateNetworkAclEntry", e)),
            }
        }
        Err(format!(
            "network ACL `{}` kept changing while adding {text}; try again",
            self.s.network_acl_id
        ))
    }

    /// The address a message asks to deny: `Ok(None)` to pass it on untouched.
    fn address(&self, m: &mut Message) -> Result<Option<IpAddr>, TransformError> {
        match m.get(&self.s.source)? {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => text.parse::<IpAddr>().map(Some).map_err(|_| {
                TransformError::invalid(format!(
                    "respond.nacl_deny: `{}` holds {text:?}, not an IP address",
                    self.s.source
                ))
            }),
            Some(other) => Err(sluice_transforms::common::wrong_type(
                &self.s.source,
                "an IP address string",
                other,
            )),
        }
    }

    fn note(&self, m: &mut Message, done: &Done) -> Result<(), TransformError> {
        let Some(target) = &self.s.target else {
            return Ok(());
        };
        m.set(
            target,
            json!({
                "action": done.action,
                "network_acl_id": self.s.network_acl_id,
                "rule_number": done.rule_number,
                "cidr": done.cidr,
                "expires": done.expires.map(format_time),
                "dry_run": self.s.dry_run,
            }),
        )
    }

    async fn run(&self, batch: Vec<Message>) -> Vec<BatchItem> {
        enum Slot {
            Done(BatchItem),
            Deny(Message, IpAddr),
        }
        let mut slots = Vec::with_capacity(batch.len());
        let mut wanted: Vec<IpAddr> = Vec::new();
        for mut m in batch {
            match self.address(&mut m) {
                Err(e) => slots.push(Slot::Done(Err(Failed::new(m, e)))),
                Ok(None) => {
                    let mut out = Output::new();
                    out.push(m);
                    slots.push(Slot::Done(Ok(out)));
                }
                Ok(Some(ip)) => {
                    let ip = ip.to_canonical();
                    if self.exclude.iter().any(|c| c.contains(ip)) {
                        self.counters.excluded.fetch_add(1, Relaxed);
                        let done = Done {
                            action: "excluded",
                            rule_number: None,
                            cidr: cidr_text(host_cidr(ip)),
                            expires: None,
                        };
                        let result = self.note(&mut m, &done);
                        slots.push(Slot::Done(finish(m, result)));
                        continue;
                    }
                    if !wanted.contains(&ip) {
                        wanted.push(ip);
                    }
                    slots.push(Slot::Deny(m, ip));
                }
            }
        }
        let outcomes: HashMap<IpAddr, Result<Done, String>> = if wanted.is_empty() {
            HashMap::new()
        } else {
            let mut last_sweep = self.turn.lock().await;
            let now = Utc::now();
            match self.describe().await {
                Err(e) => wanted.iter().map(|ip| (*ip, Err(e.clone()))).collect(),
                Ok(mut view) => {
                    let swept = self.sweep(&mut view, now).await;
                    if swept.is_ok() {
                        *last_sweep = Some(Instant::now());
                    }
                    let mut outcomes = HashMap::new();
                    for ip in &wanted {
                        let result = match &swept {
                            Err(e) => Err(e.clone()),
                            Ok(()) => self.deny(&mut view, host_cidr(*ip), now).await,
                        };
                        outcomes.insert(*ip, result);
                    }
                    outcomes
                }
            }
        };
        slots
            .into_iter()
            .map(|slot| match slot {
                Slot::Done(item) => item,
                Slot::Deny(mut m, ip) => match &outcomes[&ip] {
                    Ok(done) => {
                        let result = self.note(&mut m, done);
                        finish(m, result)
                    }
                    Err(why) => Err(Failed::new(
                        m,
                        TransformError::invalid(format!(
                            "respond.nacl_deny could not deny {ip}: {why}"
                        )),
                    )),
                },
            })
            .collect()
    }

    /// Sweeps expired entries if the last sweep is older than `sweep_interval`.
    async fn sweep_if_due(&self) -> Result<(), TransformError> {
        let mut last = self.turn.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.s.sweep_interval.get()) {
            return Ok(());
        }
        let mut view = self.describe().await.map_err(TransformError::invalid)?;
        self.sweep(&mut view, Utc::now())
            .await
            .map_err(TransformError::invalid)?;
        *last = Some(Instant::now());
        Ok(())
    }
}

fn finish(m: Message, result: Result<(), TransformError>) -> BatchItem {
    match result {
        Ok(()) => {
            let mut out = Output::new();
            out.push(m);
            Ok(out)
        }
        Err(e) => Err(Failed::new(m, e)),
    }
}

impl Io for NaclDeny {
    fn apply_batch(&self, batch: Vec<Message>) -> BoxFuture<'_, Vec<BatchItem>> {
        Box::pin(self.run(batch))
    }

    fn tick(&self) -> BoxFuture<'_, Result<Output, TransformError>> {
        Box::pin(async move {
            self.sweep_if_due().await?;
            Ok(Output::new())
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<Output, TransformError>> {
        Box::pin(async move {
            self.sweep_if_due().await?;
            Ok(Output::new())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_and_print() {
        let v4: IpAddr = "203.0.113.1".parse().unwrap();
        assert_eq!(cidr_text(host_cidr(v4)), "203.0.113.1/32");
        let v6: IpAddr = "2001:db8::7".parse().unwrap();
        assert_eq!(cidr_text(host_cidr(v6)), "2001:db8::7/128");
        assert_eq!(parse_cidr("2001:db8::7/128"), Some((v6, 128)));
        assert_eq!(parse_cidr("203.0.113.1"), None);
    }

    fn build(settings: Value) -> String {
        let mut t = settings;
        t["type"] = json!("respond.nacl_deny");
        let config = sluice_core::Config::from_value(json!({"transforms": [t]}), "test").unwrap();
        match config.build(&crate::registry(), &sluice_core::Resources::default()) {
            Ok(_) => "built".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn settings_are_checked() {
        let ok = json!({"network_acl_id": "acl-1", "rule_numbers": {"from": 100, "to": 119}});
        assert_eq!(build(ok.clone()), "built");
        let mut bad = ok.clone();
        bad["rule_numbers"] = json!({"from": 120, "to": 100});
        assert!(build(bad).contains("field `rule_numbers`"));
        let mut bad = ok.clone();
        bad["network_acl_id"] = json!("sg-1");
        assert!(build(bad).contains("field `network_acl_id`"));
        let mut bad = ok.clone();
        bad["exclude"] = json!(["10.0.0.0/8", "ten"]);
        assert!(build(bad).contains("field `exclude[1]`"));
        let mut bad = ok;
        bad["rule_numbers"] = json!({"from": 0, "to": 5});
        assert!(build(bad).contains("1-32766"));
    }
}
