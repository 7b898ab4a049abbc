//! `sluice lambda`: the pipeline a user ran locally, run as an AWS Lambda function.
//!
//! One binary serves every event source. The handler comes from `SLUICE_HANDLER`, else the
//! config's `lambda.handler`, else `auto`, which tells the sources apart by the event's shape.
//! The config is read once at cold start (see [`load`]) and the pipeline is built once; every
//! invocation reuses it, so stores, caches and AWS clients stay warm.
//!
//! Each invocation puts the event's records through the pipeline, then a control message, so
//! batching transforms and sinks deliver before the function returns. Every message carries
//! `@meta.lambda.record`, the index of the event record it came from, next to its source's own
//! metadata (`@meta.kinesis`, `@meta.sqs`, ...), so the messages that end on the error route
//! are mapped back to their records: Kinesis, SQS and DynamoDB Streams get batch item failures
//! (only what failed is retried), Firehose gets `ProcessingFailed` per record, and the sources
//! without a partial reply (SNS, direct S3 notifications) fail the invocation so Lambda retries
//! it. A message that fails without its record index fails every record of the batch: a retry
//! too many is better than a loss. Messages that an `errors` route consumes (a dead-letter
//! sink) count as handled.
//!
//! At the end of each invocation the function writes CloudWatch metrics as Embedded Metric
//! Format log lines (see [`metrics`]): no API calls.

pub mod direct;
pub mod dynamodb_streams;
pub mod firehose;
pub mod http;
pub mod kinesis;
pub mod load;
pub mod metrics;
pub mod s3;
pub mod sns;
pub mod sqs;

use crate::aws::AwsContext;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sluice_core::{Config, Message, Pipeline, PipelineError, Processed, Registry, Resources};
use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// Which event source the function serves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Handler {
    /// Tell the sources apart by the event's shape (the default).
    #[default]
    Auto,
    /// Kinesis Data Streams, KPL aggregates split into their user records.
    Kinesis,
    /// S3 object notifications: direct, through SNS or SQS, EventBridge `Object Created`, or a
    /// Step Functions distributed map over a prefix. Each object is read like `sluice run` reads it.
    S3,
    /// SQS messages.
    Sqs,
    /// SNS notifications.
    Sns,
    /// Kinesis Data Firehose data transformation.
    Firehose,
    /// API Gateway (REST or HTTP API), a function URL or an ALB: the body in, the output back.
    Http,
    /// DynamoDB Streams: each change as a message.
    DynamodbStreams,
    /// Direct invocation: the event is the message and the output is returned.
    Direct,
}

impl Handler {
    /// Every handler name, as `SLUICE_HANDLER` and `lambda.handler` take them.
    pub const NAMES: [&'static str; 9] = [
        "auto",
        "kinesis",
        "s3",
        "sqs",
        "sns",
        "firehose",
        "http",
        "dynamodb_streams",
        "direct",
    ];

    pub fn parse(text: &str) -> Result<Handler, String> {
        serde_json::from_value(Value::String(text.to_string())).map_err(|_| {
            format!(
                "`{text}` is not a handler; expected one of {}",
                Handler::NAMES.join(", ")
            )
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Handler::Auto => "auto",
            Handler::Kinesis => "kinesis",
            Handler::S3 => "s3",
            Handler::Sqs => "sqs",
            Handler::Sns => "sns",
            Handler::Firehose => "firehose",
            Handler::Http => "http",
            Handler::DynamodbStreams => "dynamodb_streams",
            Handler::Direct => "direct",
        }
    }

    /// The handler an event's shape calls for. Anything unrecognised is a direct invocation.
    /// S3 notifications inside SQS or SNS are seen as SQS or SNS: set the handler to `s3` for
    /// those.
    pub fn detect(event: &Value) -> Handler {
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
        if let Some(first) = event
            .get("Records")
            .and_then(Value::as_array)
            .and_then(|r| r.first())
        {
            let source = text(first, "eventSource").or_else(|| text(first, "EventSource"));
            return match source.as_deref() {
                Some("aws:kinesis") => Handler::Kinesis,
                Some("aws:s3") => Handler::S3,
                Some("aws:sqs") => Handler::Sqs,
                Some("aws:sns") => Handler::Sns,
                Some("aws:dynamodb") => Handler::DynamodbStreams,
                _ => Handler::Direct,
            };
        }
        if event.get("records").is_some_and(Value::is_array)
            && (event.get("deliveryStreamArn").is_some() || event.get("invocationId").is_some())
        {
            return Handler::Firehose;
        }
        if s3::is_object_created(event) || s3::is_map_batch(event) {
            return Handler::S3;
        }
        if event.get("requestContext").is_some()
            && ["httpMethod", "rawPath", "routeKey", "body"]
                .iter()
                .any(|k| event.get(*k).is_some())
        {
            return Handler::Http;
        }
        Handler::Direct
    }
}

/// Where messages that leave the last transform go when the event source takes no reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputTo {
    /// One line each on standard output (CloudWatch Logs).
    #[default]
    Stdout,
    /// Nowhere (they are still counted in the metrics).
    None,
}

/// The config's `lambda` section: how `sluice lambda` serves the pipeline.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The event source: `auto` (the default) tells them apart by the event's shape. The
    /// `SLUICE_HANDLER` environment variable overrides it.
    #[serde(default)]
    pub handler: Handler,
    /// Where output goes for Kinesis, S3, SQS, SNS and DynamoDB Streams, which take no reply:
    /// `stdout` (the default) or `none`. Pipelines usually end in a `send.*` sink, which
    /// consumes what it sends.
    #[serde(default)]
    pub output: OutputTo,
    /// S3: lines per batch handed to the pipeline.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// S3: the longest line accepted; a longer one goes to the error route with its size.
    #[serde(default = "default_max_line")]
    pub max_line_bytes: usize,
    /// S3: objects downloaded ahead while one is processed.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Firehose: end each output record with a newline, so delivered S3 objects are JSON lines.
    #[serde(default = "default_true")]
    pub firehose_newline: bool,
    /// The CloudWatch namespace of the metrics; an empty string turns the metric lines off.
    #[serde(default = "default_namespace")]
    pub metrics_namespace: String,
}

fn default_batch_size() -> usize {
    1024
}
fn default_max_line() -> usize {
    crate::file::DEFAULT_MAX_LINE
}
fn default_concurrency() -> usize {
    4
}
fn default_true() -> bool {
    true
}
fn default_namespace() -> String {
    "Sluice".into()
}

impl Settings {
    /// The config's `lambda` section, checked; the defaults when it has none.
    pub fn from_config(config: &Config) -> Result<Settings, String> {
        let settings: Settings = match &config.lambda {
            Some(v) => serde_path_to_error::deserialize(v.clone()).map_err(|e| {
                let path = e.path().to_string();
                let at = if path == "." {
                    String::new()
                } else {
                    format!(".{path}")
                };
                format!("lambda{at}: {}", e.into_inner())
            })?,
            None => Settings::default(),
        };
        if settings.batch_size == 0 {
            return Err("lambda.batch_size: must be at least 1".into());
        }
        if settings.concurrency == 0 {
            return Err("lambda.concurrency: must be at least 1".into());
        }
        Ok(settings)
    }
}

impl Default for Settings {
    fn default() -> Settings {
        serde_json::from_value(json!({})).expect("every setting has a default")
    }
}

/// Why an invocation failed. Lambda reports it as `errorType` / `errorMessage`.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    /// The event is not what the handler reads.
    #[error("the event is not {expected}: {reason}")]
    BadEvent {
        /// What the handler reads, with its article: "a Kinesis event".
        expected: &'static str,
        reason: String,
    },
    /// `on_error: fail` stopped the pipeline.
    #[error("the pipeline stopped (on_error: fail): {0}")]
    Stopped(#[from] PipelineError),
    /// Records failed and the event source has no partial reply: Lambda retries the invocation.
    #[error("{0}")]
    Failed(String),
}

impl From<LambdaError> for Diagnostic {
    fn from(e: LambdaError) -> Diagnostic {
        let error_type = match &e {
            LambdaError::BadEvent { .. } => "Sluice.BadEvent",
            LambdaError::Stopped(_) => "Sluice.PipelineStopped",
            LambdaError::Failed(_) => "Sluice.RecordsFailed",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: e.to_string(),
        }
    }
}

/// Reads an event into its AWS shape; the error names the field that did not fit.
pub(crate) fn parse_event<T: DeserializeOwned>(
    event: Value,
    expected: &'static str,
) -> Result<T, LambdaError> {
    serde_path_to_error::deserialize(event).map_err(|e| {
        let path = e.path().to_string();
        LambdaError::BadEvent {
            expected,
            reason: if path == "." {
                e.into_inner().to_string()
            } else {
                format!("{path}: {}", e.into_inner())
            },
        }
    })
}

/// Records an event record's index and its source's metadata on a message.
pub fn tag(message: &mut Message, record: usize, source: &str, meta: Value) {
    message.meta_mut().insert(source.into(), meta);
    mark(message, record);
}

/// Records an event record's index on a message, as `@meta.lambda.record`.
pub fn mark(message: &mut Message, record: usize) {
    message
        .meta_mut()
        .insert("lambda".into(), json!({ "record": record }));
}

/// The index of the event record a message came from, if it still carries it.
pub fn record_of(message: &Message) -> Option<usize> {
    message.meta()["lambda"]["record"]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
}

/// What the pipeline made of one invocation's messages.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Messages that left the last transform.
    pub output: Vec<Message>,
    /// Messages that ended on the error route (an `errors` sink that consumed them is not here).
    pub errors: Vec<Message>,
}

impl Outcome {
    fn add(&mut self, p: Processed) {
        self.output.extend(p.output);
        self.errors.extend(p.errors);
    }

    /// The records (indexes into the event's records) that had a message end on the error
    /// route. A failed message that lost its index fails every record.
    pub fn failed(&self, records: usize) -> BTreeSet<usize> {
        let mut failed = BTreeSet::new();
        for m in &self.errors {
            match record_of(m) {
                Some(i) if i < records => {
                    failed.insert(i);
                }
                _ => return (0..records).collect(),
            }
        }
        failed
    }
}

/// A pipeline built once, serving invocations.
pub struct Function {
    pipeline: Pipeline,
    handler: Handler,
    settings: Settings,
    aws: Arc<AwsContext>,
    name: String,
    records: AtomicU64,
    failures: AtomicU64,
}

impl Function {
    /// Reads the `lambda` section and builds the pipeline; the error says what is wrong.
    pub fn build(config: &Config, registry: &Registry) -> Result<Function, String> {
        let settings = Settings::from_config(config)?;
        let aws = AwsContext::from_section(config.aws.as_ref())?;
        let pipeline = config
            .build(registry, &Resources::default())
            .map_err(|e| e.to_string())?;
        Ok(Function {
            pipeline,
            handler: settings.handler,
            settings,
            aws,
            name: std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "sluice".into()),
            records: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    /// A function from a config value, with every connector registered (for tests and embedding).
    pub fn from_value(config: Value) -> Result<Function, String> {
        let config = Config::from_value(config, "config").map_err(|e| e.to_string())?;
        Function::build(&config, &crate::registry())
    }

    pub fn with_handler(mut self, handler: Handler) -> Function {
        self.handler = handler;
        self
    }

    pub fn handler(&self) -> Handler {
        self.handler
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn aws(&self) -> &Arc<AwsContext> {
        &self.aws
    }

    /// Serves one invocation with the configured handler (or the one the event's shape calls
    /// for), then writes the metric lines.
    pub async fn invoke(&self, event: Value, request_id: &str) -> Result<Value, LambdaError> {
        let started = Instant::now();
        let before = self.pipeline.account();
        self.records.store(0, Relaxed);
        self.failures.store(0, Relaxed);
        let handler = match self.handler {
            Handler::Auto => Handler::detect(&event),
            h => h,
        };
        let result = match handler {
            Handler::Kinesis => kinesis::handle(self, event).await,
            Handler::S3 => s3::handle(self, event).await,
            Handler::Sqs => sqs::handle(self, event).await,
            Handler::Sns => sns::handle(self, event).await,
            Handler::Firehose => firehose::handle(self, event).await,
            Handler::Http => http::handle(self, event).await,
            Handler::DynamodbStreams => dynamodb_streams::handle(self, event).await,
            Handler::Direct | Handler::Auto => direct::handle(self, event).await,
        };
        if let Err(e) = &result {
            log_line(
                json!({"level": "ERROR", "message": format!("invocation failed: {e}"), "handler": handler.name(), "request_id": request_id}),
            );
        }
        if !self.settings.metrics_namespace.is_empty() {
            let invocation = metrics::Invocation {
                function: &self.name,
                handler: handler.name(),
                request_id,
                records: self.records.load(Relaxed),
                failures: self.failures.load(Relaxed),
                failed: result.is_err(),
                duration: started.elapsed(),
            };
            let lines = metrics::lines(
                &self.settings.metrics_namespace,
                &invocation,
                &before,
                &self.pipeline.account(),
            );
            let mut out = std::io::stdout().lock();
            for line in lines {
                let _ = writeln!(out, "{line}");
            }
            let _ = out.flush();
        }
        result
    }

    /// Puts messages through the pipeline. Call [`Function::finish`] once the invocation's
    /// messages are all in.
    pub(crate) async fn process(
        &self,
        outcome: &mut Outcome,
        messages: Vec<Message>,
    ) -> Result<(), LambdaError> {
        outcome.add(self.pipeline.process(messages).await?);
        Ok(())
    }

    /// Sends a record that cannot enter the pipeline (a line over the size limit) to the
    /// error route with the reason.
    pub(crate) async fn reject(
        &self,
        outcome: &mut Outcome,
        message: Message,
        reason: String,
    ) -> Result<(), LambdaError> {
        outcome.add(self.pipeline.reject_input(message, reason).await?);
        Ok(())
    }

    /// Ends the invocation's input: batching transforms and sinks deliver what they hold. The
    /// messages on the error route are logged, one line each.
    pub(crate) async fn finish(&self, outcome: &mut Outcome) -> Result<(), LambdaError> {
        outcome.add(self.pipeline.flush().await?);
        for m in outcome.errors.iter().take(LOGGED_FAILURES) {
            log_failed(m);
        }
        if outcome.errors.len() > LOGGED_FAILURES {
            log_line(json!({
                "level": "ERROR",
                "message": format!(
                    "{} more messages failed in this invocation; only the first {LOGGED_FAILURES} are logged (MessagesErrored counts them all)",
                    outcome.errors.len() - LOGGED_FAILURES
                ),
            }));
        }
        Ok(())
    }

    /// One batch of messages, start to end.
    pub(crate) async fn run(&self, messages: Vec<Message>) -> Result<Outcome, LambdaError> {
        let mut outcome = Outcome::default();
        self.process(&mut outcome, messages).await?;
        self.finish(&mut outcome).await?;
        Ok(outcome)
    }

    /// Counts the event's records and the records reported failed, for the metrics.
    pub(crate) fn count(&self, records: usize, failures: usize) {
        self.records.fetch_add(records as u64, Relaxed);
        self.failures.fetch_add(failures as u64, Relaxed);
    }

    /// Writes the output of a source that takes no reply where the settings say.
    pub(crate) fn write_output(&self, outcome: &Outcome) {
        if self.settings.output == OutputTo::None || outcome.output.is_empty() {
            return;
        }
        let mut buf = Vec::with_capacity(outcome.output.len() * 256);
        for m in &outcome.output {
            m.write_to(&mut buf);
            buf.push(b'\n');
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&buf);
        let _ = out.flush();
    }
}

/// Failed messages logged one by one per invocation; the rest are summed up in one line, so a
/// bad object of a million lines does not write a million log lines.
const LOGGED_FAILURES: usize = 100;

/// One JSON log line on stderr (CloudWatch Logs keeps it as a structured entry).
pub(crate) fn log_line(line: Value) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Logs a message that ended on the error route: the reason, the step, the record and the
/// source's metadata, but not the data, which stays in the source for the retry.
fn log_failed(m: &Message) {
    let meta = m.meta();
    let origin: serde_json::Map<String, Value> = meta
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| *k != "error" && *k != "lambda")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    log_line(json!({
        "level": "ERROR",
        "message": "a message failed",
        "reason": meta["error"]["reason"],
        "transform": meta["error"]["transform"],
        "record": meta["lambda"]["record"],
        "origin": origin,
    }));
}

/// Runs the function under the Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API`): loads the config
/// from `config` or `SLUICE_CONFIG`, builds the pipeline, then serves invocations until the
/// environment is shut down. A config that does not load or build fails the init: one log line
/// says why, and the error goes to the Runtime API's init error endpoint.
pub async fn run(
    config: Option<String>,
    handler: Option<String>,
) -> Result<(), lambda_runtime::Error> {
    let started = Instant::now();
    let source = config
        .or_else(|| std::env::var("SLUICE_CONFIG").ok())
        .unwrap_or_else(|| load::DEFAULT_CONFIG.to_string());
    let function = match init(&source, handler).await {
        Ok(f) => f,
        Err(reason) => {
            let message = format!("sluice: init failed: SLUICE_CONFIG={source}: {reason}");
            log_line(json!({"level": "ERROR", "message": message}));
            load::report_init_error(&message).await;
            return Err(Box::new(InitFailed(message)));
        }
    };
    log_line(json!({
        "level": "INFO",
        "message": format!(
            "sluice: ready in {} ms: {} transforms, handler {}, config {source}",
            started.elapsed().as_millis(),
            function.pipeline.steps().len(),
            function.handler.name()
        ),
        "init_ms": started.elapsed().as_secs_f64() * 1000.0,
    }));
    let function: &'static Function = Box::leak(Box::new(function));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        function
            .invoke(event.payload, &event.context.request_id)
            .await
    }))
    .await
}

/// The init failed; the reason is already logged and reported to the Runtime API.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InitFailed(pub String);

/// Loads and builds the function; the handler from the argument, `SLUICE_HANDLER` or the config.
async fn init(source: &str, handler: Option<String>) -> Result<Function, String> {
    let config = load::load(source).await?;
    let mut function = Function::build(&config, &crate::registry())?;
    let chosen = handler.or_else(|| std::env::var("SLUICE_HANDLER").ok());
    if let Some(name) = chosen.filter(|n| !n.is_empty()) {
        function.handler = Handler::parse(&name).map_err(|e| format!("SLUICE_HANDLER: {e}"))?;
    }
    Ok(function)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlers_parse_and_name_themselves() {
        for name in Handler::NAMES {
            assert_eq!(Handler::parse(name).unwrap().name(), name);
        }
        let e = Handler::parse("kinesis_stream").unwrap_err();
        assert!(e.contains("expected one of auto, kinesis"), "{e}");
    }

    #[test]
    fn shapes_are_told_apart() {
        let records = |source: &str| json!({"Records": [{"eventSource": source}]});
        assert_eq!(Handler::detect(&records("aws:kinesis")), Handler::Kinesis);
        assert_eq!(Handler::detect(&records("aws:sqs")), Handler::Sqs);
        assert_eq!(Handler::detect(&records("aws:s3")), Handler::S3);
        assert_eq!(
            Handler::detect(&records("aws:dynamodb")),
            Handler::DynamodbStreams
        );
        assert_eq!(
            Handler::detect(&json!({"Records": [{"EventSource": "aws:sns"}]})),
            Handler::Sns
        );
        assert_eq!(
            Handler::detect(&json!({"invocationId": "x", "deliveryStreamArn": "a", "records": []})),
            Handler::Firehose
        );
        assert_eq!(
            Handler::detect(
                &json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {}})
            ),
            Handler::S3
        );
        assert_eq!(
            Handler::detect(&json!({"version": "2.0", "rawPath": "/", "requestContext": {}})),
            Handler::Http
        );
        assert_eq!(Handler::detect(&json!({"user": "alice"})), Handler::Direct);
        assert_eq!(Handler::detect(&json!([1, 2])), Handler::Direct);
    }

    #[test]
    fn settings_have_defaults_and_refuse_unknown_fields() {
        let s = Settings::default();
        assert_eq!(s.handler, Handler::Auto);
        assert_eq!(s.batch_size, 1024);
        assert_eq!(s.metrics_namespace, "Sluice");
        let e = Function::from_value(json!({"lambda": {"handlr": "s3"}}))
            .err()
            .unwrap();
        assert!(e.contains("lambda.handlr: unknown field `handlr`"), "{e}");
        let e = Function::from_value(json!({"lambda": {"handler": "ftp"}}))
            .err()
            .unwrap();
        assert!(e.contains("lambda.handler"), "{e}");
        let e = Function::from_value(json!({"lambda": {"batch_size": 0}}))
            .err()
            .unwrap();
        assert!(e.contains("lambda.batch_size"), "{e}");
    }

    #[test]
    fn failed_records_come_from_the_error_route() {
        let failed = |indexes: &[Option<usize>]| {
            let errors = indexes
                .iter()
                .map(|i| {
                    let mut m = Message::new("x");
                    if let Some(i) = i {
                        tag(&mut m, *i, "test", json!({}));
                    }
                    m
                })
                .collect();
            let outcome = Outcome {
                output: Vec::new(),
                errors,
            };
            outcome.failed(4).into_iter().collect::<Vec<_>>()
        };
        assert_eq!(failed(&[]), Vec::<usize>::new());
        assert_eq!(failed(&[Some(2), Some(0), Some(2)]), vec![0, 2]);
        assert_eq!(failed(&[Some(1), None]), vec![0, 1, 2, 3]);
        assert_eq!(failed(&[Some(9)]), vec![0, 1, 2, 3]);
    }
}
