//! Settings: defaults, then a YAML file, then `INTERVENE_*` environment variables,
//! then command-line flags. Everything has a default, so `intervene serve` needs no
//! file: rules from `./rules`, data in `./data`, bound to `127.0.0.1:8080`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Roles a key can have. `admin` may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Ingest,
    Counselor,
    Auditor,
    Admin,
    /// Reads what families are told (the family summary), nothing else.
    #[serde(rename = "family_liaison")]
    FamilyLiaison,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Counselor => "counselor",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::FamilyLiaison => "family_liaison",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [
            Role::Ingest,
            Role::Counselor,
            Role::Auditor,
            Role::Admin,
            Role::FamilyLiaison,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// An API key as configured: its name, role and the hex SHA-256 of the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub name: String,
    pub role: Role,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Webhook {
    /// Name of the environment variable holding the HMAC secret.
    pub secret_env: String,
    pub replay_window_secs: u64,
}

impl Default for Webhook {
    fn default() -> Self {
        Webhook {
            secret_env: "INTERVENE_WEBHOOK_SECRET".into(),
            replay_window_secs: 300,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Audit {
    /// Days decisions are kept; `None` keeps them forever.
    pub retention_days: Option<u32>,
    /// Refused requests per client address per minute audited one by one; the rest
    /// are counted and recorded as one entry (see `http::denials`).
    pub denials_per_minute: u32,
    /// Ed25519 key signing checkpoints (64 hex digits; `intervene keys checkpoint`).
    /// Must be outside the data directory. `None`: checkpoints are made and kept,
    /// unsigned (see `audit::checkpoint`).
    pub checkpoint_key: Option<PathBuf>,
    /// A checkpoint after this many entries...
    pub checkpoint_every_entries: u64,
    /// ...or after this many seconds, when the log grew meanwhile.
    pub checkpoint_every_secs: u64,
}

impl Default for Audit {
    fn default() -> Audit {
        Audit {
            retention_days: None,
            denials_per_minute: 10,
            checkpoint_key: None,
            checkpoint_every_entries: 10_000,
            checkpoint_every_secs: 300,
        }
    }
}

/// The web console (`/`, `/login`, ...) served beside `/v1`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Console {
    /// Mark the console's cookies `Secure` (sent over HTTPS only). Turn it on when
    /// the service is reached over HTTPS (directly or through a proxy); off by
    /// default so `http://localhost` sign-in works.
    pub secure_cookies: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Family notices: where they are delivered and how hard delivery tries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Notices {
    /// The district's family-messaging webhook (`https://…`); none: notices are kept
    /// in the outbox (`GET /v1/notices`) and not sent.
    pub url: Option<String>,
    /// Name of the environment variable holding the HMAC secret notices are signed
    /// with (as SIS events are: `X-Intervene-Signature: t=…,v1=…`).
    pub secret_env: String,
    /// Attempts before a notice is marked failed.
    pub max_attempts: u32,
    /// The first retry's delay; each next one doubles, up to `max_retry_secs`.
    pub first_retry_ms: u64,
    pub max_retry_secs: u64,
    /// How long one delivery may take.
    pub timeout_secs: u64,
}

impl Default for Notices {
    fn default() -> Self {
        Notices {
            url: None,
            secret_env: "INTERVENE_NOTICE_SECRET".into(),
            max_attempts: 10,
            first_retry_ms: 5_000,
            max_retry_secs: 3_600,
            timeout_secs: 10,
        }
    }
}

/// Most HTTP worker threads `workers` may ask for.
pub const MAX_WORKERS: usize = 256;
/// Longest `shutdown_timeout_secs`: a stop must not wait for hours.
pub const MAX_SHUTDOWN_TIMEOUT_SECS: u64 = 600;

/// Everything the service is configured with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub bind: String,
    pub rules: PathBuf,
    pub data: PathBuf,
    pub max_body_bytes: usize,
    pub api_keys: Vec<ApiKey>,
    pub webhook: Webhook,
    pub audit: Audit,
    pub log_format: LogFormat,
    /// Ed-Fi descriptor mapping (descriptor URI → our code) for Ed-Fi imports.
    pub edfi_descriptors: PathBuf,
    /// Reload the rule set when files in its directory change.
    pub watch_rules: bool,
    /// HTTP worker threads; none: one per CPU core. Evaluations and store reads run
    /// on a separate blocking pool, so a few workers serve many slow requests.
    pub workers: Option<usize>,
    /// Seconds a stopping server lets requests in flight finish before it abandons
    /// them (never acknowledged) and closes the audit log.
    pub shutdown_timeout_secs: u64,
    /// The web console's settings.
    pub console: Console,
    /// Languages families are written to in (`en`, `es`, `pt-BR`): `intervene check`
    /// and the rule-set checks warn about a rule without `family:` text in one of
    /// them, and the family summary is offered in them.
    pub family_languages: Vec<String>,
    /// Family notices (tier changes, plans opened and closed) and their delivery.
    pub notices: Notices,
    /// Groups (and complements) smaller than this are suppressed in equity reports.
    pub min_group_size: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8080".into(),
            rules: "rules".into(),
            data: "data".into(),
            max_body_bytes: 1024 * 1024,
            api_keys: Vec::new(),
            webhook: Webhook::default(),
            audit: Audit::default(),
            log_format: LogFormat::Text,
            edfi_descriptors: "config/edfi-descriptors.yaml".into(),
            watch_rules: true,
            workers: None,
            shutdown_timeout_secs: 30,
            console: Console::default(),
            family_languages: vec!["en".into(), "es".into()],
            notices: Notices::default(),
            min_group_size: 10,
        }
    }
}

/// Why settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file `{path}`: {source}")]
    Parse {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("environment variable `{name}`: {message}")]
    Env { name: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl Settings {
    /// Defaults, overridden by `file` (or `intervene.yaml` when present), overridden
    /// by the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let default_file = Path::new("intervene.yaml");
        let path = file.or(default_file.exists().then_some(default_file));
        let mut s = match path {
            None => Settings::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                if text.trim().is_empty() {
                    Settings::default()
                } else {
                    serde_yaml::from_str(&text).map_err(|source| ConfigError::Parse {
                        path: p.display().to_string(),
                        source,
                    })?
                }
            }
        };
        s.apply_env(|k| std::env::var(k).ok())?;
        Ok(s)
    }

    /// Apply `INTERVENE_BIND`, `INTERVENE_RULES`, `INTERVENE_DATA`,
    /// `INTERVENE_MAX_BODY_BYTES`, `INTERVENE_LOG_FORMAT`, `INTERVENE_WORKERS`,
    /// `INTERVENE_SHUTDOWN_TIMEOUT_SECS`.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = get("INTERVENE_BIND") {
            self.bind = v;
        }
        if let Some(v) = get("INTERVENE_RULES") {
            self.rules = v.into();
        }
        if let Some(v) = get("INTERVENE_DATA") {
            self.data = v.into();
        }
        if let Some(v) = get("INTERVENE_MAX_BODY_BYTES") {
            self.max_body_bytes = v.parse().map_err(|_| ConfigError::Env {
                name: "INTERVENE_MAX_BODY_BYTES".into(),
                message: format!("`{v}` is not a number of bytes"),
            })?;
        }
        if let Some(v) = get("INTERVENE_WORKERS") {
            self.workers = Some(v.parse().map_err(|_| ConfigError::Env {
                name: "INTERVENE_WORKERS".into(),
                message: format!("`{v}` is not a number of threads"),
            })?);
        }
        if let Some(v) = get("INTERVENE_SHUTDOWN_TIMEOUT_SECS") {
            self.shutdown_timeout_secs = v.parse().map_err(|_| ConfigError::Env {
                name: "INTERVENE_SHUTDOWN_TIMEOUT_SECS".into(),
                message: format!("`{v}` is not a number of seconds"),
            })?;
        }
        if let Some(v) = get("INTERVENE_LOG_FORMAT") {
            self.log_format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(ConfigError::Env {
                        name: "INTERVENE_LOG_FORMAT".into(),
                        message: format!("`{v}` is not `text` or `json`"),
                    });
                }
            };
        }
        Ok(())
    }

    /// Check the settings that can be wrong on their own.
    pub fn validate(&self) -> Result<SocketAddr, ConfigError> {
        let addr: SocketAddr = self.bind.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "bind address `{}` is not like 127.0.0.1:8080",
                self.bind
            ))
        })?;
        if self.api_keys.is_empty() && !addr.ip().is_loopback() {
            return Err(ConfigError::Invalid(format!(
                "no API keys are configured, so the server runs in open local mode and only binds to loopback; refusing to bind `{}` (add api_keys, see `intervene keys new`)",
                self.bind
            )));
        }
        for k in &self.api_keys {
            if k.sha256.len() != 64 || !k.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ConfigError::Invalid(format!(
                    "api key `{}`: sha256 must be 64 hex digits",
                    k.name
                )));
            }
        }
        if self.audit.checkpoint_every_entries == 0 || self.audit.checkpoint_every_secs == 0 {
            return Err(ConfigError::Invalid(
                "audit.checkpoint_every_entries and audit.checkpoint_every_secs must be at least 1"
                    .into(),
            ));
        }
        if self.family_languages.is_empty() {
            return Err(ConfigError::Invalid(
                "family_languages must name at least one language, like [en]".into(),
            ));
        }
        if let Some(bad) = self.family_languages.iter().find(|l| !is_language(l)) {
            return Err(ConfigError::Invalid(format!(
                "family_languages: `{bad}` is not a language code such as `en`, `es` or `pt-BR`"
            )));
        }
        if let Some(url) = &self.notices.url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(ConfigError::Invalid(format!(
                "notices.url `{url}` must start with https:// (or http:// on a private network)"
            )));
        }
        if self.notices.max_attempts == 0 || self.notices.timeout_secs == 0 {
            return Err(ConfigError::Invalid(
                "notices.max_attempts and notices.timeout_secs must be at least 1".into(),
            ));
        }
        if self.min_group_size == 0 {
            return Err(ConfigError::Invalid(
                "min_group_size must be at least 1 (10 is the usual reporting floor)".into(),
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max_body_bytes must be at least 1024".into(),
            ));
        }
        if let Some(n) = self.workers
            && !(1..=MAX_WORKERS).contains(&n)
        {
            return Err(ConfigError::Invalid(format!(
                "workers must be 1 to {MAX_WORKERS}, got {n}"
            )));
        }
        if self.shutdown_timeout_secs > MAX_SHUTDOWN_TIMEOUT_SECS {
            return Err(ConfigError::Invalid(format!(
                "shutdown_timeout_secs must be at most {MAX_SHUTDOWN_TIMEOUT_SECS}, got {}",
                self.shutdown_timeout_secs
            )));
        }
        Ok(addr)
    }
}

/// Whether `code` is a language code: 2 or 3 lowercase letters, optionally a region
/// or script of 2 to 4 letters or digits (`es`, `haw`, `pt-BR`, `zh-Hant`).
pub fn is_language(code: &str) -> bool {
    let mut parts = code.splitn(2, '-');
    let lang = parts.next().unwrap_or_default();
    let lang_ok = (2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_lowercase());
    let region_ok = parts
        .next()
        .is_none_or(|r| (2..=4).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric()));
    lang_ok && region_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_defaults() {
        let mut s = Settings::default();
        s.apply_env(|k| (k == "INTERVENE_BIND").then(|| "127.0.0.1:9999".to_string()))
            .unwrap();
        assert_eq!(s.bind, "127.0.0.1:9999");
    }

    #[test]
    fn open_mode_refuses_public_bind() {
        let s = Settings {
            bind: "0.0.0.0:8080".into(),
            ..Settings::default()
        };
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("open local mode"), "{err}");
    }

    #[test]
    fn bad_env_number_names_the_variable() {
        let mut s = Settings::default();
        let err = s
            .apply_env(|k| (k == "INTERVENE_MAX_BODY_BYTES").then(|| "lots".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("INTERVENE_MAX_BODY_BYTES"));
    }
}
