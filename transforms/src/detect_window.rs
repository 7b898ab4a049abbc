//! `detect.top_k` and `detect.summarize`: per window of event time, the keys with the largest
//! sum or count (top talkers by bytes per source and destination), or a summary of every key
//! (denied flows per source, with the distinct ports they tried).
//!
//! A window's report goes out when the window closes: when the watermark (the latest event time
//! less `allowed_lateness`) passes its end, on the runner's timer when the stream goes quiet
//! (see `detect.rs`), and at end of input. An event for a window already reported is late:
//! it passes on, uncounted, and the account counts it. The state lives in this process: each
//! process (or Lambda invocation) reports what it saw.

use crate::batch::Duration;
use crate::detect::{Alerts, Clock, Common, Counters, Key, Millis, Sum, Window, time_text};
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sluice_core::message::value_text;
use sluice_core::path::type_name;
use sluice_core::{
    Builder, ConfigErrors, Failed, Message, Output, Path, Registry, Stateful, TransformError,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

pub fn register(r: &mut Registry) {
    r.stateful("detect.top_k", |s: TopKSettings, b| {
        if s.k == 0 {
            return Err(b.fail("field `k`: must be at least 1"));
        }
        let report = Report::TopK { by: s.by, k: s.k };
        Windowed::new(s.common, s.window, s.kind, s.on_flush, report, b)
    });
    r.stateful("detect.summarize", |s: SummarizeSettings, b| {
        if s.limit == Some(0) {
            return Err(b.fail("field `limit`: must be at least 1 (leave it out for all keys)"));
        }
        let report = Report::Summary {
            sum: s.sum,
            distinct: s.distinct,
            min_count: s.min_count,
            limit: s.limit,
        };
        Windowed::new(s.common, s.window, s.kind, s.on_flush, report, b)
    });
}

/// Per tumbling window of event time, the `k` keys with the largest sum of `by` (e.g. the top
/// talkers: `key: ["source.ip", "destination.ip"]`, `by: source.bytes`), or with the most
/// events when `by` is left out. When the window closes (on the watermark, on a timer when the
/// stream is quiet, at end of input), one document per ranked key goes out: the key fields and
/// the total at their paths, `event.start`/`event.end`, the rule, and `detection.rank`,
/// `count`, `value`. Which events count is the transform's `when`; events pass on (or not,
/// `pass_events: false`). Events for a window already reported are late and not counted.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TopKSettings {
    #[serde(flatten)]
    pub common: Common,
    /// The window's length, e.g. `5m`.
    pub window: Duration,
    /// Rank keys by the sum of this numeric field; by their number of events when left out.
    /// An event without it adds 0; a value that is not a number is an error.
    #[serde(default)]
    pub by: Option<Path>,
    /// How many keys each window reports.
    #[serde(default = "default_k")]
    pub k: usize,
    /// `event.kind` of the reports: `metric`, or `alert` to raise them as alerts.
    #[serde(default)]
    pub kind: Kind,
    /// At a flush (end of input, or a control message mid-stream): `emit_all` reports the
    /// windows still open as they are; `keep_open` waits for them to close (for Lambda, where
    /// every invocation ends with a flush).
    #[serde(default)]
    pub on_flush: OnFlush,
}

fn default_k() -> usize {
    10
}

/// Per tumbling window of event time, one document per key: its number of events
/// (`detection.count`), the totals of the `sum` fields at their own paths, and the number of
/// distinct values of the `distinct` fields (`detection.distinct`), e.g. denied flows per
/// `source.ip` with the distinct `destination.port`s tried. `min_count` and `limit` keep the
/// keys that matter; keys go out with the most events first. Reports go out when the window
/// closes, as for `detect.top_k`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SummarizeSettings {
    #[serde(flatten)]
    pub common: Common,
    /// The window's length, e.g. `5m`.
    pub window: Duration,
    /// Numeric fields to total per key (written at their own paths). Absent adds 0.
    #[serde(default)]
    pub sum: Vec<Path>,
    /// Fields whose distinct values to count per key.
    #[serde(default)]
    pub distinct: Vec<Path>,
    /// Report only keys with at least this many events.
    #[serde(default = "default_min_count")]
    pub min_count: u64,
    /// The most keys per window (those with the most events); all when left out.
    #[serde(default)]
    pub limit: Option<usize>,
    /// `event.kind` of the reports: `metric`, or `alert` to raise them as alerts.
    #[serde(default)]
    pub kind: Kind,
    /// At a flush: `emit_all` reports the windows still open; `keep_open` waits for them to
    /// close.
    #[serde(default)]
    pub on_flush: OnFlush,
}

fn default_min_count() -> u64 {
    1
}

/// `event.kind` of a report.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A measurement.
    #[default]
    Metric,
    /// Something to look at.
    Alert,
}

/// What a flush does with the windows still open.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnFlush {
    /// Report them as they are.
    #[default]
    EmitAll,
    /// Keep them until they close.
    KeepOpen,
}

enum Report {
    TopK {
        by: Option<Path>,
        k: usize,
    },
    Summary {
        sum: Vec<Path>,
        distinct: Vec<Path>,
        min_count: u64,
        limit: Option<usize>,
    },
}

impl Report {
    fn name(&self) -> &'static str {
        match self {
            Report::TopK { .. } => "detect.top_k",
            Report::Summary { .. } => "detect.summarize",
        }
    }
}

/// One key's tally within a window.
struct Tally {
    values: Vec<Value>,
    count: u64,
    sums: Vec<Sum>,
    distinct: Vec<HashSet<String>>,
    sample: Vec<Value>,
}

/// What one event adds: the sums' values and the distinct values' texts.
struct Measures {
    sums: Vec<Option<Value>>,
    distinct: Vec<Option<String>>,
}

struct State {
    clock: Clock,
    /// Open windows by start: key text to tally.
    open: BTreeMap<Millis, HashMap<String, Tally>>,
    /// Windows ending at or before this were reported.
    closed_through: Millis,
}

pub struct Windowed {
    common: Common,
    window: Window,
    kind: Kind,
    on_flush: OnFlush,
    report: Report,
    alerts: Alerts,
    counters: Counters,
    state: Mutex<State>,
}

impl Windowed {
    fn new(
        common: Common,
        window: Duration,
        kind: Kind,
        on_flush: OnFlush,
        report: Report,
        b: &Builder,
    ) -> Result<Windowed, ConfigErrors> {
        let lateness = common.validate(b)?;
        let window = Window::new(window, None, b)?;
        Ok(Windowed {
            alerts: Alerts::new(&common, &[]),
            counters: Counters::new(b),
            common,
            window,
            kind,
            on_flush,
            report,
            state: Mutex::new(State {
                clock: Clock::new(lateness),
                open: BTreeMap::new(),
                closed_through: Millis::MIN,
            }),
        })
    }

    fn sum_paths(&self) -> &[Path] {
        match &self.report {
            Report::TopK { by: Some(by), .. } => std::slice::from_ref(by),
            Report::TopK { by: None, .. } => &[],
            Report::Summary { sum, .. } => sum,
        }
    }

    fn distinct_paths(&self) -> &[Path] {
        match &self.report {
            Report::Summary { distinct, .. } => distinct,
            Report::TopK { .. } => &[],
        }
    }

    fn measures(&self, m: &mut Message) -> Result<Measures, TransformError> {
        let mut sums = Vec::with_capacity(self.sum_paths().len());
        for path in self.sum_paths() {
            match m.get(path)? {
                None | Some(Value::Null) => sums.push(None),
                Some(v @ Value::Number(_)) => sums.push(Some(v.clone())),
                Some(other) => {
                    return Err(TransformError::invalid(format!(
                        "{}: `{path}` holds {}, not a number to add up",
                        self.report.name(),
                        type_name(other)
                    )));
                }
            }
        }
        let mut distinct = Vec::with_capacity(self.distinct_paths().len());
        for path in self.distinct_paths() {
            distinct.push(match m.get(path)? {
                None | Some(Value::Null) => None,
                Some(v) => Some(value_text(v).into_owned()),
            });
        }
        Ok(Measures { sums, distinct })
    }

    fn add(&self, state: &mut State, key: Key, t: Millis, measures: Measures, id: Option<Value>) {
        let start = t.div_euclid(self.window.size) * self.window.size;
        let tallies = state.open.entry(start).or_default();
        let tally = match tallies.get_mut(&key.text) {
            Some(tally) => tally,
            None => tallies.entry(key.text).or_insert_with(|| Tally {
                values: key.values,
                count: 0,
                sums: vec![Sum::Zero; measures.sums.len()],
                distinct: vec![HashSet::new(); measures.distinct.len()],
                sample: Vec::new(),
            }),
        };
        tally.count += 1;
        for (sum, v) in tally.sums.iter_mut().zip(&measures.sums) {
            if let Some(v) = v {
                // Checked to be a number when read.
                let _ = sum.add(v);
            }
        }
        for (set, v) in tally.distinct.iter_mut().zip(measures.distinct) {
            if let Some(v) = v {
                set.insert(v);
            }
        }
        if let Some(id) = id
            && tally.sample.len() < self.common.sample_size
        {
            tally.sample.push(id);
        }
    }

    /// Reports the windows that end at or before `limit`, oldest first.
    fn close(&self, state: &mut State, limit: Millis) -> Vec<Message> {
        if limit == Millis::MIN {
            return Vec::new();
        }
        let through = limit.div_euclid(self.window.size) * self.window.size;
        state.closed_through = state.closed_through.max(through);
        let mut reports = Vec::new();
        while let Some(entry) = state.open.first_entry() {
            if entry.key().saturating_add(self.window.size) > through {
                break;
            }
            let (start, tallies) = entry.remove_entry();
            reports.extend(self.render(start, tallies));
        }
        reports
    }

    /// Reports every open window.
    fn close_all(&self, state: &mut State) -> Vec<Message> {
        let open = std::mem::take(&mut state.open);
        open.into_iter()
            .flat_map(|(start, tallies)| self.render(start, tallies))
            .collect()
    }

    fn render(&self, start: Millis, tallies: HashMap<String, Tally>) -> Vec<Message> {
        let bounds = (start, start.saturating_add(self.window.size));
        let mut ranked: Vec<(String, Tally)> = tallies.into_iter().collect();
        match &self.report {
            Report::TopK { by, k } => {
                let value = |t: &Tally| match by {
                    Some(_) => t.sums[0],
                    None => Sum::Int(i128::from(t.count)),
                };
                ranked.sort_by(|(ka, a), (kb, b)| {
                    value(b)
                        .partial_cmp(&value(a))
                        .unwrap_or(std::cmp::Ordering::Equal)
                        .then_with(|| ka.cmp(kb))
                });
                ranked.truncate(*k);
                ranked
                    .into_iter()
                    .enumerate()
                    .map(|(i, (text, t))| {
                        let mut detection = json!({
                            "type": "top_k",
                            "rank": i + 1,
                            "count": t.count,
                            "value": value(&t).to_value(),
                            "by": by.as_ref().map_or("count".to_string(), |p| p.to_string()),
                        });
                        self.finish(&mut detection, bounds, text, t)
                    })
                    .collect()
            }
            Report::Summary {
                min_count, limit, ..
            } => {
                ranked.retain(|(_, t)| t.count >= *min_count);
                ranked.sort_by(|(ka, a), (kb, b)| b.count.cmp(&a.count).then_with(|| ka.cmp(kb)));
                if let Some(limit) = limit {
                    ranked.truncate(*limit);
                }
                ranked
                    .into_iter()
                    .map(|(text, t)| {
                        let mut detection = json!({"type": "summarize", "count": t.count});
                        if !t.distinct.is_empty() {
                            let distinct: Map<String, Value> = self
                                .distinct_paths()
                                .iter()
                                .zip(&t.distinct)
                                .map(|(p, set)| (p.to_string(), json!(set.len())))
                                .collect();
                            detection["distinct"] = Value::Object(distinct);
                        }
                        self.finish(&mut detection, bounds, text, t)
                    })
                    .collect()
            }
        }
    }

    fn finish(
        &self,
        detection: &mut Value,
        bounds: (Millis, Millis),
        text: String,
        t: Tally,
    ) -> Message {
        detection["window"] = json!(self.window.size_text());
        if self.common.sample_size > 0 {
            detection["sample"] = Value::Array(t.sample);
        }
        let kind = match self.kind {
            Kind::Metric => "metric",
            Kind::Alert => "alert",
        };
        let key = Key {
            values: t.values,
            text,
        };
        let mut m = self.alerts.document(
            kind,
            time_text(bounds.0),
            Some(bounds),
            &key,
            detection.take(),
        );
        for (path, sum) in self.sum_paths().iter().zip(t.sums) {
            // The document is a fresh object: only a key field at the same place can clash.
            let _ = m.set(path, sum.to_value());
        }
        m
    }

    fn emit(&self, message: Message, reports: Vec<Message>, out: &mut Output) {
        self.common.pass(message, out);
        for r in reports {
            out.push(r);
        }
    }
}

impl Stateful for Windowed {
    fn apply(&self, mut message: Message, out: &mut Output) -> Result<(), Failed> {
        let read = self
            .common
            .keyed(&mut message, &self.counters, self.report.name())
            .and_then(|read| match read {
                Some((key, at)) => Ok(Some((key, at, self.measures(&mut message)?))),
                None => Ok(None),
            });
        let (key, t, measures) = match read {
            Ok(Some((key, at, measures))) => (key, at.timestamp_millis(), measures),
            Ok(None) => {
                self.common.pass(message, out);
                return Ok(());
            }
            Err(e) => return Err(Failed::new(message, e)),
        };
        let id = self.common.sample_id(&mut message);
        let reports = {
            let mut state = self.state.lock();
            let late = state.clock.observe(t, Instant::now());
            let start = t.div_euclid(self.window.size) * self.window.size;
            if late || start.saturating_add(self.window.size) <= state.closed_through {
                self.counters.late();
                drop(state);
                self.common.pass(message, out);
                return Ok(());
            }
            self.add(&mut state, key, t, measures, id);
            let watermark = state.clock.watermark();
            self.close(&mut state, watermark)
        };
        self.emit(message, reports, out);
        Ok(())
    }

    fn tick(&self, out: &mut Output) -> Result<(), TransformError> {
        let mut state = self.state.lock();
        if state.clock.latest().is_none() {
            return Ok(());
        }
        let limit = state.clock.idle_watermark(Instant::now());
        for r in self.close(&mut state, limit) {
            out.push(r);
        }
        Ok(())
    }

    fn flush(&self, out: &mut Output) -> Result<(), TransformError> {
        let mut state = self.state.lock();
        let reports = match self.on_flush {
            OnFlush::EmitAll => self.close_all(&mut state),
            OnFlush::KeepOpen => {
                let limit = state.clock.idle_watermark(Instant::now());
                self.close(&mut state, limit)
            }
        };
        for r in reports {
            out.push(r);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{build_error, config, reasons, run};
    use sluice_core::{Config, Resources};

    const BASE: Millis = 1_795_413_600_000; // 2026-11-23T06:00:00Z

    fn flow(src: &str, dst: &str, bytes: u64, port: u16, secs: i64, outcome: &str) -> Value {
        json!({
            "@timestamp": time_text(BASE + secs * 1000),
            "event": {"id": format!("{src}-{secs}"), "outcome": outcome},
            "source": {"ip": src, "bytes": bytes},
            "destination": {"ip": dst, "port": port},
        })
    }

    fn reports(type_name: &str, settings: Value, events: &[Value]) -> Vec<Value> {
        let p = run(
            config(type_name, settings),
            events.iter().map(|e| Message::new(e.to_string())).collect(),
        );
        assert!(p.errors.is_empty(), "{:?}", reasons(&p));
        p.output
            .iter()
            .map(sluice_core::testing::output_value)
            .filter(|v| v.get("rule").is_some())
            .collect()
    }

    fn talkers() -> Vec<Value> {
        vec![
            flow("10.0.0.1", "10.0.0.9", 500, 443, 10, "success"),
            flow("10.0.0.2", "10.0.0.9", 9000, 443, 20, "success"),
            flow("10.0.0.1", "10.0.0.9", 700, 443, 30, "success"),
            flow("10.0.0.3", "10.0.0.8", 100, 22, 40, "success"),
            // The next window: closes the first.
            flow("10.0.0.3", "10.0.0.8", 5, 22, 400, "success"),
        ]
    }

    fn top_settings(extra: Value) -> Value {
        let mut s = json!({
            "rule": {"name": "top_talkers"},
            "key": ["source.ip", "destination.ip"],
            "by": "source.bytes",
            "k": 2,
            "window": "5m",
            "allowed_lateness": "0s",
            "sample_size": 0,
        });
        crate::detect::merge(&mut s, extra);
        s
    }

    #[test]
    fn top_k_ranks_keys_by_their_sum_when_the_window_closes() {
        let p = run(
            config("detect.top_k", top_settings(json!({}))),
            talkers()
                .iter()
                .map(|e| Message::new(e.to_string()))
                .collect(),
        );
        let out: Vec<Value> = p
            .output
            .iter()
            .map(sluice_core::testing::output_value)
            .collect();
        // The first window's report comes right after the event that closed it.
        assert_eq!(out.len(), 5 + 2 + 1);
        assert_eq!(out[4], talkers()[4]);
        assert_eq!(
            out[5],
            json!({
                "@timestamp": "2026-11-23T06:00:00Z",
                "event": {"kind": "metric", "start": "2026-11-23T06:00:00Z", "end": "2026-11-23T06:05:00Z"},
                "rule": {"name": "top_talkers", "id": "top_talkers"},
                "source": {"ip": "10.0.0.2", "bytes": 9000},
                "destination": {"ip": "10.0.0.9"},
                "related": {"ip": ["10.0.0.2", "10.0.0.9"]},
                "detection": {"type": "top_k", "rank": 1, "count": 1, "value": 9000, "by": "source.bytes", "window": "5m"},
            })
        );
        assert_eq!(out[6]["source"]["ip"], "10.0.0.1");
        assert_eq!(out[6]["source"]["bytes"], 1200);
        assert_eq!(out[6]["detection"]["rank"], 2);
        // End of input reports the open window.
        assert_eq!(out[7]["event"]["start"], "2026-11-23T06:05:00Z");
        // By count, with alerts alone.
        let got = reports(
            "detect.top_k",
            top_settings(json!({"by": null, "k": 1, "pass_events": false})),
            &talkers()[..4],
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["source"]["ip"], "10.0.0.1");
        assert_eq!(got[0]["detection"]["value"], 2);
        assert!(got[0]["source"].get("bytes").is_none());
    }

    #[test]
    fn summarize_counts_sums_and_distinct_values_per_key() {
        let mut events = Vec::new();
        for (i, port) in [22u16, 23, 80, 443, 3389, 22].iter().enumerate() {
            events.push(flow(
                "192.0.2.7",
                "10.0.0.9",
                40,
                *port,
                i as i64,
                "failure",
            ));
        }
        events.push(flow("192.0.2.8", "10.0.0.9", 40, 22, 9, "failure"));
        let got = reports(
            "detect.summarize",
            json!({
                "rule": {"name": "denied_flows"},
                "key": "source.ip",
                "window": "5m",
                "sum": ["source.bytes"],
                "distinct": ["destination.port"],
                "min_count": 2,
                "kind": "alert",
                "sample_size": 2,
            }),
            &events,
        );
        assert_eq!(
            got,
            vec![json!({
                "@timestamp": "2026-11-23T06:00:00Z",
                "event": {"kind": "alert", "start": "2026-11-23T06:00:00Z", "end": "2026-11-23T06:05:00Z"},
                "rule": {"name": "denied_flows", "id": "denied_flows"},
                "source": {"ip": "192.0.2.7", "bytes": 240},
                "related": {"ip": ["192.0.2.7"]},
                "detection": {
                    "type": "summarize", "count": 6, "window": "5m",
                    "distinct": {"destination.port": 5},
                    "sample": ["192.0.2.7-0", "192.0.2.7-1"],
                },
            })]
        );
    }

    #[test]
    fn late_events_and_bad_values() {
        let mut events = talkers();
        // For the first window, after it was reported.
        events.push(flow("10.0.0.5", "10.0.0.9", 1, 1, 50, "success"));
        let mut bad = flow("10.0.0.6", "10.0.0.9", 1, 1, 410, "success");
        bad["source"]["bytes"] = json!("many");
        events.push(bad);
        let c = config("detect.top_k", top_settings(json!({})));
        let pipeline = Config::from_value(c, "test")
            .unwrap()
            .build(&crate::registry(), &Resources::default())
            .unwrap();
        let p = futures::executor::block_on(
            pipeline.process(events.iter().map(|e| Message::new(e.to_string())).collect()),
        )
        .unwrap();
        let r = reasons(&p);
        assert_eq!(r.len(), 1);
        assert!(
            r[0].contains("`source.bytes` holds string, not a number"),
            "{r:?}"
        );
        assert!(
            pipeline
                .account()
                .counters
                .contains(&("transforms[0] (detect.top_k) late".into(), 1))
        );
    }

    #[tokio::test]
    async fn the_window_timer_reports_without_further_input() {
        let c = config(
            "detect.summarize",
            json!({"rule": {"name": "r"}, "key": "source.ip", "window": "2s", "allowed_lateness": "0s"}),
        );
        let pipeline = Config::from_value(c, "test")
            .unwrap()
            .build(&crate::registry(), &Resources::default())
            .unwrap();
        let event = |ms: i64| {
            Message::new(
                json!({"@timestamp": time_text(BASE + ms), "source": {"ip": "10.0.0.1"}})
                    .to_string(),
            )
        };
        let p = pipeline.process(vec![event(0), event(10)]).await.unwrap();
        assert_eq!(p.output.len(), 2, "nothing reported yet");
        assert!(pipeline.tick().await.unwrap().output.is_empty());
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let t = pipeline.tick().await.unwrap();
        assert_eq!(t.output.len(), 1);
        let report = sluice_core::testing::output_value(&t.output[0]);
        assert_eq!(report["detection"]["count"], 2);
        // Nothing left for the end of input.
        assert!(pipeline.flush().await.unwrap().output.is_empty());
    }

    #[test]
    fn keep_open_waits_for_the_window_to_close() {
        let got = reports(
            "detect.top_k",
            top_settings(json!({"on_flush": "keep_open"})),
            &talkers(),
        );
        assert_eq!(got.len(), 2, "the second window stays open");
    }

    #[test]
    fn settings_are_checked() {
        let e = build_error(config("detect.top_k", top_settings(json!({"k": 0}))));
        assert!(e.contains("field `k`"), "{e}");
        let e = build_error(config(
            "detect.summarize",
            json!({"rule": {"name": "r"}, "window": "5m", "limit": 0}),
        ));
        assert!(e.contains("field `limit`"), "{e}");
        let e = build_error(config(
            "detect.summarize",
            json!({"rule": {"name": "r"}, "window": "5m", "key": ""}),
        ));
        assert!(e.contains("field `key`"), "{e}");
    }
}
