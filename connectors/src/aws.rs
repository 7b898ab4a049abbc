//! One AWS client configuration for every connector of a run.
//!
//! Settings come from the config's top-level `aws` section, overridden per transform by its own
//! `aws` setting, and fall back on the standard chain (environment, profiles, instance roles;
//! `AWS_REGION`, `AWS_ENDPOINT_URL`). Building a pipeline only checks the settings: clients are
//! made on first use, so a config builds without network and Lambda's cold start stays short.

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::{Builder, ConfigErrors};
use sluice_transforms::batch::Duration;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// AWS client settings. Every field is optional: what is left out comes from the environment.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwsSettings {
    /// The region, e.g. `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Send every request here instead of AWS (a local test server, a VPC endpoint).
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// A named profile from ~/.aws/config.
    #[serde(default)]
    pub profile: Option<String>,
    /// How many times the SDK tries a request that failed for a retryable reason (default 3).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// The longest one request may take, e.g. `10s`.
    #[serde(default)]
    pub timeout: Option<Duration>,
}

impl AwsSettings {
    /// These settings with `over`'s fields taking precedence.
    fn merged(&self, over: &AwsSettings) -> AwsSettings {
        AwsSettings {
            region: over.region.clone().or_else(|| self.region.clone()),
            endpoint_url: over
                .endpoint_url
                .clone()
                .or_else(|| self.endpoint_url.clone()),
            profile: over.profile.clone().or_else(|| self.profile.clone()),
            max_attempts: over.max_attempts.or(self.max_attempts),
            timeout: over.timeout.or(self.timeout),
        }
    }
}

/// The resolved settings and, once asked for, the SDK configuration built from them.
pub struct AwsContext {
    pub settings: AwsSettings,
    sdk: OnceCell<SdkConfig>,
}

impl AwsContext {
    pub fn new(settings: AwsSettings) -> Arc<AwsContext> {
        Arc::new(AwsContext {
            settings,
            sdk: OnceCell::new(),
        })
    }

    /// The context from a config's `aws` section alone (for sources, which are not transforms).
    pub fn from_section(section: Option<&serde_json::Value>) -> Result<Arc<AwsContext>, String> {
        let settings: AwsSettings = match section {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| format!("the config's `aws` section: {e}"))?,
            None => AwsSettings::default(),
        };
        Ok(AwsContext::new(settings))
    }

    /// The context for a transform: the config's `aws` section with the transform's own
    /// `aws` settings on top. Errors name the field.
    pub fn for_transform(
        b: &Builder,
        own: &Option<AwsSettings>,
    ) -> Result<Arc<AwsContext>, ConfigErrors> {
        let shared: AwsSettings = match b.resources.section("aws") {
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| b.fail(format!("the config's `aws` section: {e}")))?,
            None => AwsSettings::default(),
        };
        let settings = shared.merged(&own.clone().unwrap_or_default());
        if let Some(url) = &settings.endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(b.fail(format!(
                "field `aws.endpoint_url`: `{url}` is not an http(s) URL"
            )));
        }
        if settings.max_attempts == Some(0) {
            return Err(b.fail("field `aws.max_attempts`: must be at least 1"));
        }
        Ok(AwsContext::new(settings))
    }

    /// The SDK configuration, loaded once (credentials, region, endpoint, retries).
    pub async fn sdk(&self) -> &SdkConfig {
        self.sdk
            .get_or_init(|| async {
                let s = &self.settings;
                let mut loader = aws_config::defaults(BehaviorVersion::latest());
                if let Some(region) = &s.region {
                    loader = loader.region(Region::new(region.clone()));
                }
                if let Some(url) = &s.endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                if let Some(profile) = &s.profile {
                    loader = loader.profile_name(profile);
                }
                if let Some(n) = s.max_attempts {
                    loader = loader.retry_config(RetryConfig::standard().with_max_attempts(n));
                }
                if let Some(t) = s.timeout {
                    loader = loader.timeout_config(
                        TimeoutConfig::builder().operation_timeout(t.get()).build(),
                    );
                }
                loader.load().await
            })
            .await
    }

    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(self.sdk().await)
            // Local servers and most endpoints other than AWS's own want path-style buckets.
            .force_path_style(self.settings.endpoint_url.is_some())
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub async fn kinesis(&self) -> aws_sdk_kinesis::Client {
        aws_sdk_kinesis::Client::new(self.sdk().await)
    }

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(self.sdk().await)
    }

    pub async fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(self.sdk().await)
    }

    pub async fn sns(&self) -> aws_sdk_sns::Client {
        aws_sdk_sns::Client::new(self.sdk().await)
    }

    pub async fn firehose(&self) -> aws_sdk_firehose::Client {
        aws_sdk_firehose::Client::new(self.sdk().await)
    }

    pub async fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        aws_sdk_eventbridge::Client::new(self.sdk().await)
    }

    pub async fn lambda(&self) -> aws_sdk_lambda::Client {
        aws_sdk_lambda::Client::new(self.sdk().await)
    }

    pub async fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(self.sdk().await)
    }
}
