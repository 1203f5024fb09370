//! One typed configuration: defaults, then an optional TOML file
//! (`VEIL_CONFIG`), then `VEIL_*` environment variables. Validated once at
//! startup so a bad value stops the service with a message naming it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The largest `max_validity_days` a configuration may set: whatever the
/// setting, no pseudonym or disclosure is requested for longer (the API
/// documents it as the bound of `validity_days`).
pub const MAX_VALIDITY_DAYS_CEILING: u32 = 3650;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for {name}: {message}")]
    Invalid { name: &'static str, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// How strictly startup treats secrets left on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The two-command start: keys generated on a new database, an unsealed
    /// break-glass key and the bootstrap admin token on disk, with a warning
    /// at every start.
    Dev,
    /// Refuses to start while the break-glass private key is unsealed on the
    /// host or the bootstrap admin token file is still there, and never
    /// generates keys (`auto_init` must be false).
    Production,
}

/// The path segment of pseudonym URIs, `mimi://<domain>/<path>/<id>`:
/// draft-ietf-mimi-protocol leaves the choice of `u` or `p` to local policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PseudonymPath {
    /// `/p/`, the default: the URI says it names a pseudonym.
    P,
    /// `/u/`: pseudonyms look like any other user URI of the provider.
    U,
}

impl PseudonymPath {
    fn segment(self) -> &'static str {
        match self {
            Self::P => "p",
            Self::U => "u",
        }
    }
}

/// Service configuration. Field names are the TOML keys; each has an
/// environment override `VEIL_<FIELD>` (upper case).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `sqlite://path` (embedded default) or `postgres://…` (scale-out).
    pub database_url: String,
    /// Maximum pooled database connections per process.
    pub db_max_connections: u32,
    /// Listen address; port 0 picks a free port and logs it.
    pub listen: SocketAddr,
    /// Provider domain used in pseudonym URIs `mimi://<domain>/p/<id>`.
    pub domain: String,
    /// `p` (default) or `u`: the path of pseudonym URIs. Pseudonyms issued
    /// under the other path are no longer recognized after a change.
    pub pseudonym_path: PseudonymPath,
    /// Directory of issuer keys, link keys and the first admin token.
    pub keys_dir: PathBuf,
    /// Directory of issuance and room policies.
    pub policies_dir: PathBuf,
    /// `dev` (default) or `production`: see [`Mode`].
    pub mode: Mode,
    /// Generate keys and a first admin token when the key directory is missing.
    pub auto_init: bool,
    /// Longest pseudonym validity a backend may request.
    pub max_validity_days: u32,
    pub log_format: LogFormat,
    /// Where a break-glass private key would sit on this host; veild never
    /// reads it (reveals open on the requester's machine), production mode
    /// refuses to start while it exists. Unset: `<keys_dir>/break-glass.key`,
    /// where the dev setup leaves it.
    pub break_glass_key_file: Option<PathBuf>,
    /// How often the audit log's head is signed and stored; 0 turns it off.
    pub audit_checkpoint_secs: u64,
    /// PEM certificate chain (leaf first); with `tls_key_file`, veild
    /// serves HTTPS only. Reloaded on SIGHUP.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of the leaf certificate (PKCS#8, SEC1 or PKCS#1).
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificates: when set, every connection must present a
    /// client certificate chaining to one of them (mutual TLS).
    pub tls_client_ca_file: Option<PathBuf>,
    /// Production only: allow plain HTTP on an address other than loopback
    /// (a TLS-terminating proxy in front on a private network).
    pub allow_plain_http: bool,
    /// A connection must deliver its request headers (and, with TLS, its
    /// handshake) within this many seconds, or it is closed.
    pub header_read_timeout_secs: u64,
    /// The whole request body must arrive within this many seconds (408).
    pub request_body_timeout_secs: u64,
    /// A request must be answered within this many seconds (503).
    pub request_timeout_secs: u64,
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "sqlite://veil.db".into(),
            db_max_connections: 8,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            domain: "example.com".into(),
            pseudonym_path: PseudonymPath::P,
            keys_dir: PathBuf::from("veil-keys"),
            policies_dir: PathBuf::from("policies"),
            mode: Mode::Dev,
            auto_init: true,
            max_validity_days: 90,
            log_format: LogFormat::Human,
            break_glass_key_file: None,
            audit_checkpoint_secs: 300,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            allow_plain_http: false,
            header_read_timeout_secs: 10,
            request_body_timeout_secs: 10,
            request_timeout_secs: 30,
            max_connections: 512,
        }
    }
}

impl Config {
    /// Loads from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::load(|name| std::env::var(name).ok())
    }

    /// Loads with an injectable environment, so tests need not touch globals.
    pub fn load(env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = match env("VEIL_CONFIG") {
            Some(path) => Self::from_file(Path::new(&path))?,
            None => Self::default(),
        };
        config.apply_env(&env)?;
        config.validate()?;
        Ok(config)
    }

    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.into(), source })?;
        toml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: path.into(), message: e.to_string() })
    }

    fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = env("VEIL_DATABASE_URL") {
            self.database_url = v;
        }
        if let Some(v) = env("VEIL_DB_MAX_CONNECTIONS") {
            self.db_max_connections = parse("VEIL_DB_MAX_CONNECTIONS", &v)?;
        }
        if let Some(v) = env("VEIL_LISTEN") {
            self.listen = parse("VEIL_LISTEN", &v)?;
        }
        if let Some(v) = env("VEIL_DOMAIN") {
            self.domain = v;
        }
        if let Some(v) = env("VEIL_PSEUDONYM_PATH") {
            self.pseudonym_path = match v.as_str() {
                "p" => PseudonymPath::P,
                "u" => PseudonymPath::U,
                other => {
                    return Err(invalid(
                        "VEIL_PSEUDONYM_PATH",
                        format!(
                            "`{other}` is not p or u (pseudonym URIs are mimi://<domain>/p/<id> or /u/<id>)"
                        ),
                    ));
                }
            };
        }
        if let Some(v) = env("VEIL_KEYS_DIR") {
            self.keys_dir = v.into();
        }
        if let Some(v) = env("VEIL_POLICIES_DIR") {
            self.policies_dir = v.into();
        }
        if let Some(v) = env("VEIL_MODE") {
            self.mode = match v.as_str() {
                "dev" => Mode::Dev,
                "production" => Mode::Production,
                other => {
                    return Err(invalid(
                        "VEIL_MODE",
                        format!("`{other}` is not dev or production"),
                    ));
                }
            };
        }
        if let Some(v) = env("VEIL_AUTO_INIT") {
            self.auto_init = parse("VEIL_AUTO_INIT", &v)?;
        }
        if let Some(v) = env("VEIL_MAX_VALIDITY_DAYS") {
            self.max_validity_days = parse("VEIL_MAX_VALIDITY_DAYS", &v)?;
        }
        if let Some(v) = env("VEIL_BREAK_GLASS_KEY_FILE") {
            self.break_glass_key_file = Some(v.into());
        }
        if let Some(v) = env("VEIL_AUDIT_CHECKPOINT_SECS") {
            self.audit_checkpoint_secs = parse("VEIL_AUDIT_CHECKPOINT_SECS", &v)?;
        }
        for (name, field) in [
            ("VEIL_TLS_CERT_FILE", &mut self.tls_cert_file),
            ("VEIL_TLS_KEY_FILE", &mut self.tls_key_file),
            ("VEIL_TLS_CLIENT_CA_FILE", &mut self.tls_client_ca_file),
        ] {
            if let Some(v) = env(name) {
                // An empty value unsets a file given in the TOML file.
                *field = (!v.is_empty()).then(|| v.into());
            }
        }
        if let Some(v) = env("VEIL_ALLOW_PLAIN_HTTP") {
            self.allow_plain_http = parse("VEIL_ALLOW_PLAIN_HTTP", &v)?;
        }
        if let Some(v) = env("VEIL_HEADER_READ_TIMEOUT_SECS") {
            self.header_read_timeout_secs = parse("VEIL_HEADER_READ_TIMEOUT_SECS", &v)?;
        }
        if let Some(v) = env("VEIL_REQUEST_BODY_TIMEOUT_SECS") {
            self.request_body_timeout_secs = parse("VEIL_REQUEST_BODY_TIMEOUT_SECS", &v)?;
        }
        if let Some(v) = env("VEIL_REQUEST_TIMEOUT_SECS") {
            self.request_timeout_secs = parse("VEIL_REQUEST_TIMEOUT_SECS", &v)?;
        }
        if let Some(v) = env("VEIL_MAX_CONNECTIONS") {
            self.max_connections = parse("VEIL_MAX_CONNECTIONS", &v)?;
        }
        if let Some(v) = env("VEIL_LOG_FORMAT") {
            self.log_format = match v.as_str() {
                "human" => LogFormat::Human,
                "json" => LogFormat::Json,
                other => {
                    return Err(invalid(
                        "VEIL_LOG_FORMAT",
                        format!("`{other}` is not human or json"),
                    ));
                }
            };
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(self.database_url.starts_with("sqlite:") || self.database_url.starts_with("postgres"))
        {
            return Err(invalid("database_url", "must start with sqlite: or postgres://".into()));
        }
        if !is_domain(&self.domain) {
            return Err(invalid("domain", format!("`{}` is not a DNS name", self.domain)));
        }
        if self.mode == Mode::Production && self.auto_init {
            return Err(invalid(
                "auto_init",
                "must be false in production mode: keys come from `veilctl init`, never from a start"
                    .into(),
            ));
        }
        if self.db_max_connections == 0 {
            return Err(invalid("db_max_connections", "must be at least 1".into()));
        }
        if !(1..=MAX_VALIDITY_DAYS_CEILING).contains(&self.max_validity_days) {
            return Err(invalid(
                "max_validity_days",
                format!("must be between 1 and {MAX_VALIDITY_DAYS_CEILING}"),
            ));
        }
        self.validate_serving()
    }

    /// TLS files come as a pair, and fail closed: production never serves
    /// plain HTTP beyond loopback unless told a proxy terminates TLS.
    fn validate_serving(&self) -> Result<(), ConfigError> {
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => {
                return Err(invalid(
                    "tls_key_file",
                    "tls_cert_file is set; set both or neither".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "tls_cert_file",
                    "tls_key_file is set; set both or neither".into(),
                ));
            }
            _ => {}
        }
        if self.tls_client_ca_file.is_some() && !self.tls() {
            return Err(invalid(
                "tls_client_ca_file",
                "client certificates need TLS: set tls_cert_file and tls_key_file".into(),
            ));
        }
        if self.mode == Mode::Production
            && !self.tls()
            && !self.listen.ip().is_loopback()
            && !self.allow_plain_http
        {
            return Err(invalid(
                "tls_cert_file",
                format!(
                    "production mode will not serve plain HTTP on {}: tokens, shares and account \
                     ids would cross the network in clear. Set tls_cert_file and tls_key_file, \
                     listen on loopback behind a TLS proxy, or set allow_plain_http = true",
                    self.listen
                ),
            ));
        }
        for (name, secs) in [
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("request_body_timeout_secs", self.request_body_timeout_secs),
            ("request_timeout_secs", self.request_timeout_secs),
        ] {
            if !(1..=3600).contains(&secs) {
                return Err(invalid(name, "must be between 1 and 3600 seconds".into()));
            }
        }
        if self.request_body_timeout_secs > self.request_timeout_secs {
            return Err(invalid(
                "request_body_timeout_secs",
                "must not exceed request_timeout_secs, so a slow body is answered 408, not 503"
                    .into(),
            ));
        }
        if self.max_connections == 0 {
            return Err(invalid("max_connections", "must be at least 1".into()));
        }
        Ok(())
    }

    /// Whether veild serves HTTPS.
    pub fn tls(&self) -> bool {
        self.tls_cert_file.is_some() && self.tls_key_file.is_some()
    }

    /// Where a break-glass private key would sit on this host: production
    /// refuses to start while one is there (reveals happen off the server).
    pub fn break_glass_key_path(&self) -> PathBuf {
        self.break_glass_key_file
            .clone()
            .unwrap_or_else(|| self.keys_dir.join(crate::services::keyring::GLASS_PRIVATE))
    }

    /// Prefix every pseudonym URI of this provider starts with.
    pub fn pseudonym_prefix(&self) -> String {
        format!("mimi://{}/{}/", self.domain, self.pseudonym_path.segment())
    }
}

fn parse<T: std::str::FromStr>(name: &'static str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e: T::Err| invalid(name, format!("`{value}`: {e}")))
}

fn invalid(name: &'static str, message: String) -> ConfigError {
    ConfigError::Invalid { name, message }
}

fn is_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::load(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_need_no_configuration() {
        let config = load(&[]).unwrap();
        assert_eq!(config.database_url, "sqlite://veil.db");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.pseudonym_prefix(), "mimi://example.com/p/");
    }

    #[test]
    fn the_pseudonym_path_is_p_or_u() {
        let config =
            load(&[("VEIL_PSEUDONYM_PATH", "u"), ("VEIL_DOMAIN", "chat.example")]).unwrap();
        assert_eq!(config.pseudonym_prefix(), "mimi://chat.example/u/");
        assert_eq!(load(&[("VEIL_PSEUDONYM_PATH", "p")]).unwrap().pseudonym_path, PseudonymPath::P);
        for bad in ["", "P", "x", "u/", "/u"] {
            let err = load(&[("VEIL_PSEUDONYM_PATH", bad)]).unwrap_err().to_string();
            assert!(err.contains("VEIL_PSEUDONYM_PATH") && err.contains("not p or u"), "{err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("veil.toml");
        std::fs::write(&file, "pseudonym_path = \"u\"\n").unwrap();
        let path = file.to_str().unwrap();
        assert_eq!(
            load(&[("VEIL_CONFIG", path)]).unwrap().pseudonym_prefix(),
            "mimi://example.com/u/"
        );
        std::fs::write(&file, "pseudonym_path = \"users\"\n").unwrap();
        let err = load(&[("VEIL_CONFIG", path)]).unwrap_err().to_string();
        assert!(err.contains("pseudonym_path") || err.contains("users"), "{err}");
    }

    #[test]
    fn production_mode_never_generates_keys() {
        assert_eq!(load(&[]).unwrap().mode, Mode::Dev);
        let err = load(&[("VEIL_MODE", "production")]).unwrap_err().to_string();
        assert!(err.contains("auto_init"), "{err}");
        let config = load(&[("VEIL_MODE", "production"), ("VEIL_AUTO_INIT", "false")]).unwrap();
        assert_eq!(config.mode, Mode::Production);
        let err = load(&[("VEIL_MODE", "prod")]).unwrap_err().to_string();
        assert!(err.contains("VEIL_MODE"), "{err}");
    }

    #[test]
    fn production_refuses_plain_http_beyond_loopback() {
        let production = [("VEIL_MODE", "production"), ("VEIL_AUTO_INIT", "false")];
        let public = [production.as_slice(), &[("VEIL_LISTEN", "0.0.0.0:8443")]].concat();
        let err = load(&public).unwrap_err().to_string();
        assert!(err.contains("plain HTTP"), "{err}");
        let tls = [("VEIL_TLS_CERT_FILE", "cert.pem"), ("VEIL_TLS_KEY_FILE", "key.pem")];
        assert!(load(&[public.as_slice(), &tls].concat()).unwrap().tls());
        let proxied = [public.as_slice(), &[("VEIL_ALLOW_PLAIN_HTTP", "true")]].concat();
        assert!(!load(&proxied).unwrap().tls());
        // Loopback (behind a local proxy) and dev mode keep plain HTTP.
        assert!(load(&production).is_ok());
        assert!(load(&[("VEIL_LISTEN", "0.0.0.0:8080")]).is_ok());
    }

    #[test]
    fn tls_files_come_as_a_pair_and_timeouts_are_bounded() {
        let err = load(&[("VEIL_TLS_CERT_FILE", "cert.pem")]).unwrap_err().to_string();
        assert!(err.contains("tls_key_file"), "{err}");
        let err = load(&[("VEIL_TLS_CLIENT_CA_FILE", "ca.pem")]).unwrap_err().to_string();
        assert!(err.contains("tls_client_ca_file"), "{err}");
        let err = load(&[("VEIL_REQUEST_TIMEOUT_SECS", "0")]).unwrap_err().to_string();
        assert!(err.contains("request_timeout_secs"), "{err}");
        let err = load(&[("VEIL_REQUEST_BODY_TIMEOUT_SECS", "60")]).unwrap_err().to_string();
        assert!(err.contains("request_body_timeout_secs"), "{err}");
        let err = load(&[("VEIL_MAX_CONNECTIONS", "0")]).unwrap_err().to_string();
        assert!(err.contains("max_connections"), "{err}");
        let config = load(&[]).unwrap();
        assert!(!config.tls());
        assert_eq!(config.max_connections, 512);
    }

    #[test]
    fn env_overrides_file_and_errors_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("veil.toml");
        std::fs::write(&file, "domain = \"chat.example\"\nlisten = \"127.0.0.1:9000\"\n").unwrap();
        let path = file.to_str().unwrap();
        let config = load(&[("VEIL_CONFIG", path), ("VEIL_LISTEN", "127.0.0.1:0")]).unwrap();
        assert_eq!(config.domain, "chat.example");
        assert_eq!(config.listen.port(), 0);

        let err = load(&[("VEIL_LISTEN", "nowhere")]).unwrap_err().to_string();
        assert!(err.contains("VEIL_LISTEN"), "{err}");
        let err = load(&[("VEIL_DOMAIN", "bad domain")]).unwrap_err().to_string();
        assert!(err.contains("domain"), "{err}");
        std::fs::write(&file, "domian = \"typo\"\n").unwrap();
        let err = load(&[("VEIL_CONFIG", path)]).unwrap_err().to_string();
        assert!(err.contains("domian"), "{err}");
    }
}
