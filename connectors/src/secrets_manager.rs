//! Secrets from AWS Secrets Manager, for `${SECRET:id}` in URLs and headers.
//!
//! This module re-registers the `secret` store and `utility.secret` of sluice-transforms (which
//! read environment variables) with one more source: `secrets_manager: "NAME or ARN"`, with
//! `key` to pick one field of a JSON secret. The secret is fetched while the config is built, so
//! a missing secret or a denied read fails `sluice vet`/`run` before any input is read, and
//! fetched again in the background every `refresh` (rotation). Errors name the secret and what
//! failed, never its value.

use crate::aws::{AwsContext, AwsSettings};
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::registry::SharedResource;
use sluice_core::{Builder, ConfigErrors, Registry};
use sluice_transforms::batch::Duration as Setting;
use sluice_transforms::kv_cache::store_name;
use sluice_transforms::secrets::{self, Secret, SecretSource};
use sluice_transforms::utility::PassThrough;
use std::sync::Arc;

/// Replaces the transforms crate's env-only `secret` store and `utility.secret` with versions
/// that also read AWS Secrets Manager.
pub fn register(r: &mut Registry) {
    r.unregister("secret");
    r.unregister("utility.secret");
    r.store("secret", |s: SecretStoreSettings, b| {
        let secret = s.from.secret(&store_name(b), b)?;
        Ok(Arc::new(secret) as SharedResource)
    });
    r.map("utility.secret", |s: UtilitySecretSettings, b| {
        if s.id.is_empty() || s.id.contains('}') {
            return Err(b.fail("field `id`: must be a name without `}`, used as `${SECRET:<id>}`"));
        }
        secrets::remember(s.from.secret(&s.id, b)?);
        Ok(PassThrough)
    });
}

/// A secret for `${SECRET:<store name>}` in the settings of transforms that take secrets (HTTP
/// URLs and headers): from an environment variable (`env`) or from AWS Secrets Manager
/// (`secrets_manager`, fetched again every `refresh`). It is read when the config is built, so a
/// missing secret fails the config. The value is never printed.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SecretStoreSettings {
    #[serde(flatten)]
    pub from: SecretFrom,
}

/// Read a secret when the config is built (from an environment variable or AWS Secrets
/// Manager), so that later transforms can use it as `${SECRET:<id>}` in URLs and headers. A
/// missing secret fails the config; the value is never printed. Messages pass unchanged.
/// Declaring the secret as a store (`stores: {<id>: {type: "secret", ...}}`) does the same
/// without depending on the order of the transforms.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UtilitySecretSettings {
    /// The name other transforms use: `${SECRET:<id>}`.
    pub id: String,
    #[serde(flatten)]
    pub from: SecretFrom,
}

/// Where a secret comes from: `env` or `secrets_manager`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SecretFrom {
    /// The environment variable that holds the secret.
    #[serde(default)]
    pub env: Option<String>,
    /// The name or ARN of an AWS Secrets Manager secret (its current version).
    #[serde(default)]
    pub secrets_manager: Option<String>,
    /// For a Secrets Manager secret holding a JSON object: the key whose value is the secret
    /// (e.g. `password`).
    #[serde(default)]
    pub key: Option<String>,
    /// How often a Secrets Manager secret is fetched again; its last value serves meanwhile.
    #[serde(default = "default_refresh")]
    pub refresh: Setting,
    /// AWS settings for Secrets Manager, over the config's `aws` section.
    #[serde(default)]
    pub aws: Option<AwsSettings>,
}

fn default_refresh() -> Setting {
    Setting::from_secs(3600)
}

impl SecretFrom {
    /// Reads the secret `id` now; errors name the field.
    fn secret(&self, id: &str, b: &Builder) -> Result<Secret, ConfigErrors> {
        match (&self.env, &self.secrets_manager) {
            (Some(env), None) => {
                if self.key.is_some() {
                    return Err(b.fail("field `key`: only for `secrets_manager` secrets"));
                }
                Secret::from_env(id, env).map_err(|e| b.fail(format!("field `env`: {e}")))
            }
            (None, Some(name)) => {
                if self.refresh.is_zero() {
                    return Err(b.fail("field `refresh`: must be longer than 0s, e.g. `1h`"));
                }
                let source = Arc::new(SecretsManager {
                    name: name.clone(),
                    key: self.key.clone(),
                    aws: AwsContext::for_transform(b, &self.aws)?.settings.clone(),
                });
                let value = source
                    .fetch_blocking()
                    .map_err(|e| b.fail(format!("field `secrets_manager`: {e}")))?;
                let origin = format!("AWS Secrets Manager secret `{name}`");
                Ok(Secret::refreshed(id, origin, value, self.refresh.get(), source))
            }
            (Some(_), Some(_)) => Err(b.fail(
                "field `secrets_manager`: give either `env` or `secrets_manager`, not both",
            )),
            (None, None) => Err(b.fail(
                "field `env`: say where the secret is: `env` (an environment variable) or `secrets_manager` (a secret's name or ARN)",
            )),
        }
    }
}

/// One Secrets Manager secret (a field of it, with `key`).
#[derive(Clone)]
struct SecretsManager {
    name: String,
    key: Option<String>,
    aws: AwsSettings,
}

impl SecretsManager {
    /// The current value. A fresh client each time: fetches are rare, and each may run on a
    /// different runtime (the config is built outside the one that later refreshes).
    async fn read(&self) -> Result<String, String> {
        let client = AwsContext::new(self.aws.clone()).secrets().await;
        let out = client
            .get_secret_value()
            .secret_id(&self.name)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "GetSecretValue of `{}` failed: {}",
                    self.name,
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                )
            })?;
        let text = match (out.secret_string(), out.secret_binary()) {
            (Some(s), _) => s.to_string(),
            (None, Some(b)) => String::from_utf8(b.as_ref().to_vec())
                .map_err(|_| format!("the secret `{}` is binary, not text", self.name))?,
            (None, None) => return Err(format!("the secret `{}` has no value", self.name)),
        };
        let value = self.pick(text)?;
        if value.is_empty() {
            return Err(format!("the secret `{}` is empty", self.name));
        }
        Ok(value)
    }

    /// The secret's text, or the field `key` of it.
    fn pick(&self, text: String) -> Result<String, String> {
        let Some(key) = &self.key else {
            return Ok(text);
        };
        // serde_json's errors give a position, never the text.
        let object = match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(o)) => o,
            _ => {
                return Err(format!(
                    "the secret `{}` is not a JSON object, so `key` cannot pick from it",
                    self.name
                ));
            }
        };
        match object.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Null) | None => {
                let keys: Vec<&str> = object.keys().map(String::as_str).collect();
                Err(format!(
                    "the secret `{}` has no key `{key}` (its keys: {})",
                    self.name,
                    keys.join(", ")
                ))
            }
            Some(other) => Ok(other.to_string()),
        }
    }

    /// `read` from synchronous code (a config being built, perhaps inside a runtime).
    fn fetch_blocking(self: &Arc<Self>) -> Result<String, String> {
        let me = self.clone();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("starting a runtime to fetch the secret: {e}"))?
                .block_on(me.read())
        })
        .join()
        .unwrap_or_else(|_| Err("fetching the secret panicked".into()))
    }
}

impl SecretSource for SecretsManager {
    fn fetch(&self) -> BoxFuture<'static, Result<String, String>> {
        let me = self.clone();
        Box::pin(async move { me.read().await })
    }
}
