//! Secrets: values read when a config is built (from the environment here; from AWS Secrets
//! Manager through sluice-connectors, refreshed when they expire) and written into URLs and
//! headers as `${SECRET:ID}`.
//!
//! A secret is declared in one of two ways; both read it while the config is built, so a missing
//! or empty one fails `sluice vet` and `run` before any input is read:
//!
//! - as a store (preferred): `stores: {hec_token: {type: "secret", env: "SPLUNK_HEC_TOKEN"}}`,
//!   used as `${SECRET:hec_token}`. It belongs to the config's resources, so the order of the
//!   transforms does not matter and two configs in one process never see each other's secrets.
//! - with the `utility.secret` transform (Substation's way): `{type: "utility.secret", id:
//!   "hec_token", env: "SPLUNK_HEC_TOKEN"}`. It puts the secret in a process-wide cache when it is
//!   built; transforms that use it must come after it in the config.
//!
//! A transform that takes text with secrets calls [`check`] in its register closure (so an
//! unknown ID is a config error naming the field) and [`interpolate`] to get the text to send.
//! The value of a secret is never printed: `Debug` redacts it and errors name only the ID and
//! where it comes from. A secret with a [`SecretSource`] is fetched again in the background once
//! its refresh interval has passed; the previous value serves until the new one arrives, and a
//! failed refresh keeps it (rotations keep the previous version valid for a while).

use futures::future::BoxFuture;
use parking_lot::{Mutex, RwLock as ValueLock};
use schemars::JsonSchema;
use serde::Deserialize;
use sluice_core::registry::SharedResource;
use sluice_core::{Registry, Resources};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, RwLock};
use std::time::{Duration, Instant};

const OPEN: &str = "${SECRET:";

/// A secret value and where it came from.
pub struct Secret {
    id: String,
    /// Where it comes from, for errors and `Debug`: "environment variable `X`".
    origin: String,
    value: Arc<ValueLock<Arc<str>>>,
    refresh: Option<Arc<Refresh>>,
}

/// Where a refreshable secret is fetched from (AWS Secrets Manager, in sluice-connectors).
pub trait SecretSource: Send + Sync + 'static {
    /// The current value. Errors say what failed and never contain the value.
    fn fetch(&self) -> BoxFuture<'static, Result<String, String>>;
}

struct Refresh {
    every: Duration,
    source: Arc<dyn SecretSource>,
    due: Mutex<Instant>,
    running: AtomicBool,
}

/// After a failed refresh, try again this soon (or at the interval, if shorter).
const RETRY_FAILED_REFRESH: Duration = Duration::from_secs(60);

impl Secret {
    /// Reads the environment variable `env` as the secret `id`.
    pub fn from_env(id: &str, env: &str) -> Result<Secret, SecretError> {
        let problem = match std::env::var(env) {
            Ok(value) if !value.is_empty() => {
                return Ok(Secret::new(
                    id,
                    format!("environment variable `{env}`"),
                    value,
                    None,
                ));
            }
            Ok(_) => "is empty",
            Err(std::env::VarError::NotPresent) => "is not set",
            Err(std::env::VarError::NotUnicode(_)) => "is not valid UTF-8",
        };
        Err(SecretError::Env {
            id: id.to_string(),
            env: env.to_string(),
            problem,
        })
    }

    /// A secret fetched from `source` (already, as `value`), fetched again after `every`.
    pub fn refreshed(
        id: &str,
        origin: String,
        value: String,
        every: Duration,
        source: Arc<dyn SecretSource>,
    ) -> Secret {
        let refresh = Refresh {
            every,
            source,
            due: Mutex::new(Instant::now() + every),
            running: AtomicBool::new(false),
        };
        Secret::new(id, origin, value, Some(Arc::new(refresh)))
    }

    fn new(id: &str, origin: String, value: String, refresh: Option<Arc<Refresh>>) -> Secret {
        Secret {
            id: id.to_string(),
            origin,
            value: Arc::new(ValueLock::new(value.into())),
            refresh,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret itself: only for the request that needs it, never for a log line. When it is
    /// due for a refresh, starts one in the background (on the current Tokio runtime).
    pub fn expose(&self) -> Arc<str> {
        if let Some(refresh) = &self.refresh {
            self.refresh_if_due(refresh);
        }
        self.value.read().clone()
    }

    fn refresh_if_due(&self, refresh: &Arc<Refresh>) {
        if Instant::now() < *refresh.due.lock() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if refresh.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let (refresh, value, id) = (refresh.clone(), self.value.clone(), self.id.clone());
        runtime.spawn(async move {
            let next = match refresh.source.fetch().await {
                Ok(new) => {
                    *value.write() = new.into();
                    refresh.every
                }
                Err(e) => {
                    tracing::warn!(secret = %id, "refreshing the secret failed, the previous value stays in use: {e}");
                    refresh.every.min(RETRY_FAILED_REFRESH)
                }
            };
            *refresh.due.lock() = Instant::now() + next;
            refresh.running.store(false, Ordering::Release);
        });
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("id", &self.id)
            .field("from", &self.origin)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// Why a secret could not be read or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable `{env}` for secret `{id}` {problem}")]
    Env {
        id: String,
        env: String,
        problem: &'static str,
    },
    #[error(
        "`${{SECRET:{id}}}` names no secret; declare it in `stores` as {{\"type\": \"secret\", \"env\": \"VARIABLE\"}} or with a utility.secret transform before this one"
    )]
    Unknown { id: String },
    #[error("`${{SECRET:` is not closed; write `${{SECRET:ID}}`")]
    Unterminated,
}

/// Secrets declared by `utility.secret`, for the life of the process.
static PROCESS: LazyLock<RwLock<HashMap<String, Arc<Secret>>>> = LazyLock::new(Default::default);

/// Adds a secret to the process-wide cache (what `utility.secret` does), replacing one of the
/// same ID.
pub fn remember(secret: Secret) {
    let mut all = PROCESS.write().unwrap_or_else(|e| e.into_inner());
    all.insert(secret.id.clone(), Arc::new(secret));
}

/// The secret of this ID: a `secret` store in `resources` first, then the process-wide cache.
pub fn lookup(id: &str, resources: &Resources) -> Option<Arc<Secret>> {
    resources.get::<Secret>(id).or_else(|| {
        let all = PROCESS.read().unwrap_or_else(|e| e.into_inner());
        all.get(id).cloned()
    })
}

/// The IDs named by `${SECRET:ID}` in `text`, in order.
pub fn references(text: &str) -> Result<Vec<&str>, SecretError> {
    let mut ids = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let end = after.find('}').ok_or(SecretError::Unterminated)?;
        ids.push(&after[..end]);
        rest = &after[end + 1..];
    }
    Ok(ids)
}

/// Checks that every secret `text` names is declared; for register closures.
pub fn check(text: &str, resources: &Resources) -> Result<(), SecretError> {
    for id in references(text)? {
        if lookup(id, resources).is_none() {
            return Err(SecretError::Unknown { id: id.to_string() });
        }
    }
    Ok(())
}

/// `text` with every `${SECRET:ID}` replaced by the secret's value. Other `${...}` forms (such
/// as `${DATA}`) are left for the caller.
pub fn interpolate(text: &str, resources: &Resources) -> Result<String, SecretError> {
    if !text.contains(OPEN) {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        out.push_str(&rest[..start]);
        let after = &rest[start + OPEN.len()..];
        let end = after.find('}').ok_or(SecretError::Unterminated)?;
        let id = &after[..end];
        let secret = lookup(id, resources).ok_or_else(|| SecretError::Unknown { id: id.into() })?;
        out.push_str(&secret.expose());
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

pub fn register(r: &mut Registry) {
    r.store("secret", |s: SecretStoreSettings, b| {
        // The store's name is its ID: `stores.<name> (secret)` is where the builder stands.
        let location = b.location();
        let name = location
            .strip_prefix("stores.")
            .and_then(|l| l.strip_suffix(" (secret)"))
            .unwrap_or(location);
        match Secret::from_env(name, &s.env) {
            Ok(secret) => Ok(Arc::new(secret) as SharedResource),
            Err(e) => Err(b.fail(format!("field `env`: {e}"))),
        }
    });
}

/// A secret read from an environment variable when the config is built; use it as
/// `${SECRET:<store name>}` in the settings of transforms that support secrets (HTTP URLs and
/// headers). A missing or empty variable fails the config. The value is never printed.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct SecretStoreSettings {
    /// The environment variable that holds the secret.
    pub env: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_core::Config;

    /// A variable every test machine has, so no test needs to change the environment.
    fn path() -> String {
        std::env::var("PATH").expect("PATH is set")
    }

    #[test]
    fn interpolates_from_stores_and_the_process_cache() {
        let config = Config::from_value(
            json!({"stores": {"tok": {"type": "secret", "env": "PATH"}}}),
            "test",
        )
        .unwrap();
        let mut resources = Resources::default();
        let mut registry = Registry::new();
        register(&mut registry);
        // Build the store the way a config does, to get the resources transforms see.
        let builder = sluice_core::Builder::new(&registry, &resources, &config.pipelines);
        let tok = builder.store("tok", &config.stores["tok"]).unwrap();
        resources.insert_shared("tok", tok);
        remember(Secret::from_env("secrets_test_process", "PATH").unwrap());

        let text = "https://h/?t=${SECRET:tok}&p=${SECRET:secrets_test_process}&d=${DATA}";
        assert_eq!(
            interpolate(text, &resources).unwrap(),
            format!("https://h/?t={}&p={}&d=${{DATA}}", path(), path())
        );
        assert_eq!(references(text).unwrap(), ["tok", "secrets_test_process"]);
        assert!(check(text, &resources).is_ok());
        assert_eq!(interpolate("plain ✓", &resources).unwrap(), "plain ✓");
        let err = check("${SECRET:nope}", &resources).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("`${SECRET:nope}` names no secret"),
            "{err}"
        );
        assert_eq!(
            interpolate("${SECRET:tok", &resources),
            Err(SecretError::Unterminated)
        );
        // The value never shows in Debug output.
        let secret = lookup("tok", &resources).unwrap();
        assert_eq!(secret.id(), "tok");
        let debug = format!("{secret:?}");
        assert!(
            !debug.contains(&path()) && debug.contains("<redacted>"),
            "{debug}"
        );
    }

    /// A source that answers `v1`, `v2`, ... or fails when told to.
    struct Counting {
        fetches: Arc<std::sync::atomic::AtomicU32>,
        fail: Arc<AtomicBool>,
    }

    impl SecretSource for Counting {
        fn fetch(&self) -> BoxFuture<'static, Result<String, String>> {
            let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 2;
            let fail = self.fail.load(Ordering::SeqCst);
            Box::pin(async move {
                match fail {
                    true => Err("the service is down".to_string()),
                    false => Ok(format!("v{n}")),
                }
            })
        }
    }

    #[tokio::test]
    async fn a_refreshed_secret_serves_the_old_value_until_the_new_one_arrives() {
        let fetches = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let fail = Arc::new(AtomicBool::new(false));
        let source = Counting {
            fetches: fetches.clone(),
            fail: fail.clone(),
        };
        let every = Duration::from_millis(50);
        let secret = Secret::refreshed("t", "a test".into(), "v1".into(), every, Arc::new(source));
        assert_eq!(&*secret.expose(), "v1");
        assert_eq!(fetches.load(Ordering::SeqCst), 0, "not due yet");
        tokio::time::sleep(every * 2).await;
        // Due: this call starts the refresh and still answers the old value.
        assert_eq!(&*secret.expose(), "v1");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(&*secret.expose(), "v2");
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // A failed refresh keeps the value.
        fail.store(true, Ordering::SeqCst);
        tokio::time::sleep(every * 2).await;
        secret.expose();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(&*secret.expose(), "v2");
        assert!(!format!("{secret:?}").contains("v2"));
    }

    #[test]
    fn a_missing_variable_fails_the_config() {
        let config =
            json!({"stores": {"k": {"type": "secret", "env": "SLUICE_TEST_SECRET_UNSET"}}});
        let err = crate::testing::build_error(config);
        assert_eq!(
            err,
            "stores.k (secret): field `env`: environment variable `SLUICE_TEST_SECRET_UNSET` for secret `k` is not set"
        );
    }
}
