//! Typed settings from the environment (`APP_` prefix), validated at start-up with every problem listed.
//!
//! [`VARIABLES`] is the one list of every setting: the reader below uses it, and it is what the
//! generated `.env.example` and `docs/config.md` are made from.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use crate::auth::keys::{KeyError, Keyset};
use crate::database;

/// Deployment environment; production is the strictest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Staging,
    Production,
}

/// A value that must never be printed.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One environment variable the service reads.
#[derive(Debug)]
pub struct Variable {
    pub name: &'static str,
    /// `None`: required (or computed, see `description`).
    pub default: Option<&'static str>,
    pub secret: bool,
    pub description: &'static str,
}

const fn var(
    name: &'static str,
    default: Option<&'static str>,
    description: &'static str,
) -> Variable {
    Variable {
        name,
        default,
        secret: false,
        description,
    }
}

/// Every setting, in the order they are documented.
pub const VARIABLES: &[Variable] = &[
    var(
        "APP_ENV",
        Some("development"),
        "development, staging or production; production refuses development keys and requires TLS to the database",
    ),
    var(
        "APP_LISTEN",
        Some("127.0.0.1:8080"),
        "address of the API listener (host:port)",
    ),
    var(
        "APP_OPS_LISTEN",
        Some("127.0.0.1:9090"),
        "address of the operations listener serving /metrics (host:port)",
    ),
    Variable {
        secret: true,
        ..var(
            "APP_DATABASE_URL",
            None,
            "PostgreSQL URL (required); TLS from its sslmode (disable, require, verify-ca, verify-full) and sslrootcert (the CA bundle, PEM); production requires sslmode=verify-full",
        )
    },
    var(
        "APP_DATABASE_MAX_CONNECTIONS",
        Some("10"),
        "size of the connection pool",
    ),
    Variable {
        secret: true,
        ..var(
            "APP_JWT_PRIVATE_KEY",
            None,
            "Ed25519 private key (PKCS#8 PEM, from `app keygen`) signing access tokens; development falls back to a built-in key that staging and production refuse",
        )
    },
    var(
        "APP_JWT_PREVIOUS_PUBLIC_KEYS",
        Some(""),
        "PEM public keys of rotated-out signing keys, still accepted during the overlap",
    ),
    var(
        "APP_JWT_ISSUER",
        Some("gatehouse-app"),
        "`iss` of issued tokens, required on verification",
    ),
    var(
        "APP_JWT_AUDIENCE",
        Some("gatehouse-api"),
        "`aud` of issued tokens, required on verification",
    ),
    var(
        "APP_ACCESS_TOKEN_SECONDS",
        Some("900"),
        "access token lifetime (15 minutes)",
    ),
    var(
        "APP_REFRESH_TOKEN_SECONDS",
        Some("604800"),
        "refresh token lifetime (7 days)",
    ),
    var(
        "APP_DRAIN_SECONDS",
        Some("5"),
        "after SIGTERM: seconds /readyz reports 503 while the server keeps serving",
    ),
    var(
        "APP_SHUTDOWN_DEADLINE_SECONDS",
        Some("10"),
        "after the drain: seconds in-flight requests get to finish",
    ),
    var(
        "APP_REQUEST_TIMEOUT_MS",
        Some("10000"),
        "a request taking longer gets a JSON 503",
    ),
    var(
        "APP_BODY_LIMIT_BYTES",
        Some("65536"),
        "larger request bodies get 413",
    ),
    var(
        "APP_CORS_ALLOWED_ORIGINS",
        Some(""),
        "comma-separated origins allowed by CORS; empty: CORS off",
    ),
    var(
        "APP_HSTS",
        Some("false"),
        "send Strict-Transport-Security (enable behind TLS)",
    ),
    var(
        "APP_LOGIN_LIMIT_PER_IP",
        Some("20"),
        "login attempts per minute per client IP",
    ),
    var(
        "APP_LOGIN_LIMIT_PER_ACCOUNT",
        Some("5"),
        "login attempts per minute per account",
    ),
    var(
        "APP_FAULT_ERROR_RATE",
        Some("0"),
        "fault injection: share of API requests answered 500 (0..1); off by default",
    ),
    var(
        "APP_FAULT_LATENCY_MS",
        Some("0"),
        "fault injection: added latency on API requests",
    ),
    var(
        "APP_FAULT_LATENCY_RATE",
        Some("1"),
        "fault injection: share of API requests delayed (0..1)",
    ),
    var(
        "APP_FAULT_ALLOW_IN_PRODUCTION",
        Some("false"),
        "allow fault injection under APP_ENV=production",
    ),
    var(
        "APP_LOG",
        Some("info"),
        "log filter (tracing EnvFilter syntax)",
    ),
];

/// `.env.example`: every variable with its description, defaults commented in.
pub fn env_example() -> String {
    let mut out =
        String::from("# Every setting of the service, with its default. Copy to .env and edit.\n");
    for v in VARIABLES {
        out.push_str(&format!(
            "\n# {}{}\n",
            v.description,
            if v.secret { " (secret)" } else { "" }
        ));
        match v.default {
            Some(default) => out.push_str(&format!("#{}={default}\n", v.name)),
            None => out.push_str(&format!("{}=\n", v.name)),
        }
    }
    out
}

/// `docs/config.md`: the same list as a table.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Configuration\n\nThe service reads only `APP_*` environment variables (and `OTEL_EXPORTER_OTLP_ENDPOINT`, \
         with `SSL_CERT_FILE` for an `https://` collector's CA). \
         Every problem is reported at once at start-up, and the process exits 2.\n\n\
         | variable | default | secret | meaning |\n|---|---|---|---|\n",
    );
    for v in VARIABLES {
        let default = match v.default {
            Some("") => "(empty)".to_owned(),
            Some(d) => format!("`{d}`"),
            None => "required".to_owned(),
        };
        let secret = if v.secret { "yes" } else { "" };
        out.push_str(&format!(
            "| `{}` | {default} | {secret} | {} |\n",
            v.name,
            v.description.replace('|', "\\|")
        ));
    }
    out
}

/// Every setting as JSON (name, default, secret, description): what deployment tooling reads,
/// e.g. the Helm chart's generated `values.schema.json`.
pub fn json() -> String {
    let variables: Vec<_> = VARIABLES
        .iter()
        .map(|v| {
            serde_json::json!({
                "name": v.name,
                "default": v.default,
                "secret": v.secret,
                "description": v.description,
            })
        })
        .collect();
    serde_json::to_string_pretty(&variables).expect("plain JSON values serialise")
}

/// Everything the service reads from its environment.
#[derive(Clone, Debug)]
pub struct Settings {
    pub env: AppEnv,
    pub listen: SocketAddr,
    pub ops_listen: SocketAddr,
    /// Contains credentials: printed only redacted.
    pub database_url: Secret,
    pub database_max_connections: u32,
    pub jwt: JwtSettings,
    pub drain: Duration,
    pub shutdown_deadline: Duration,
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    pub cors_allowed_origins: Vec<String>,
    pub hsts: bool,
    pub login_limit_per_ip: u32,
    pub login_limit_per_account: u32,
    pub faults: Faults,
    pub log: String,
}

#[derive(Clone, Debug)]
pub struct JwtSettings {
    pub keys: Keyset,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

/// Fault injection, for negative tests and rollback drills. Off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Faults {
    pub error_rate: f64,
    pub latency: Duration,
    pub latency_rate: f64,
}

impl Faults {
    pub fn enabled(&self) -> bool {
        self.error_rate > 0.0 || (!self.latency.is_zero() && self.latency_rate > 0.0)
    }
}

/// All configuration problems at once.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

/// Reads variables, collecting problems instead of stopping at the first.
struct Reader<F> {
    lookup: F,
    problems: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    fn raw(&self, name: &str) -> Option<String> {
        let spec = VARIABLES.iter().find(|v| v.name == name);
        debug_assert!(spec.is_some(), "{name} is missing from VARIABLES");
        (self.lookup)(name)
            .filter(|v| !v.trim().is_empty())
            .or_else(|| spec.and_then(|s| s.default).map(str::to_owned))
    }

    fn string(&self, name: &str) -> String {
        self.raw(name).unwrap_or_default()
    }

    fn parse<T: FromStr>(&mut self, name: &str, expected: &str) -> Option<T>
    where
        T::Err: fmt::Display,
    {
        let raw = self.raw(name)?;
        match raw.trim().parse() {
            Ok(v) => Some(v),
            Err(e) => {
                self.problems
                    .push(format!("{name}: `{raw}` is not {expected} ({e})"));
                None
            }
        }
    }

    fn rate(&mut self, name: &str) -> Option<f64> {
        let rate: f64 = self.parse(name, "a number between 0 and 1")?;
        if (0.0..=1.0).contains(&rate) {
            Some(rate)
        } else {
            self.problems
                .push(format!("{name}: {rate} is not between 0 and 1"));
            None
        }
    }

    fn positive(&mut self, name: &str) -> Option<u32> {
        match self.parse::<u32>(name, "a positive integer")? {
            0 => {
                self.problems.push(format!("{name}: must be at least 1"));
                None
            }
            n => Some(n),
        }
    }

    fn seconds(&mut self, name: &str) -> Option<Duration> {
        self.parse::<u64>(name, "a whole number of seconds")
            .map(Duration::from_secs)
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let mut r = Reader {
            lookup,
            problems: Vec::new(),
        };
        let env = app_env(&mut r);
        let listen = r.parse("APP_LISTEN", "host:port");
        let ops_listen = r.parse("APP_OPS_LISTEN", "host:port");
        let database_url = database_url(&mut r, env);
        let database_max_connections = r.positive("APP_DATABASE_MAX_CONNECTIONS");
        let jwt = jwt(&mut r, env);
        let drain = r.seconds("APP_DRAIN_SECONDS");
        let shutdown_deadline = r.seconds("APP_SHUTDOWN_DEADLINE_SECONDS");
        let request_timeout = r
            .positive("APP_REQUEST_TIMEOUT_MS")
            .map(|ms| Duration::from_millis(ms.into()));
        let body_limit_bytes = r.parse("APP_BODY_LIMIT_BYTES", "a number of bytes");
        let cors_allowed_origins = r
            .string("APP_CORS_ALLOWED_ORIGINS")
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        let hsts = r.parse("APP_HSTS", "true or false");
        let login_limit_per_ip = r.positive("APP_LOGIN_LIMIT_PER_IP");
        let login_limit_per_account = r.positive("APP_LOGIN_LIMIT_PER_ACCOUNT");
        let faults = faults(&mut r, env);
        let log = r.string("APP_LOG");
        let built = (|| {
            Some(Settings {
                env: env?,
                listen: listen?,
                ops_listen: ops_listen?,
                database_url: database_url?,
                database_max_connections: database_max_connections?,
                jwt: jwt?,
                drain: drain?,
                shutdown_deadline: shutdown_deadline?,
                request_timeout: request_timeout?,
                body_limit_bytes: body_limit_bytes?,
                cors_allowed_origins,
                hsts: hsts?,
                login_limit_per_ip: login_limit_per_ip?,
                login_limit_per_account: login_limit_per_account?,
                faults: faults?,
                log,
            })
        })();
        match built {
            Some(settings) if r.problems.is_empty() => Ok(settings),
            _ => Err(ConfigError(r.problems)),
        }
    }
}

fn app_env(r: &mut Reader<impl Fn(&str) -> Option<String>>) -> Option<AppEnv> {
    match r.string("APP_ENV").as_str() {
        "development" => Some(AppEnv::Development),
        "staging" => Some(AppEnv::Staging),
        "production" => Some(AppEnv::Production),
        other => {
            r.problems.push(format!(
                "APP_ENV: `{other}` is not one of development, staging, production"
            ));
            None
        }
    }
}

fn database_url(
    r: &mut Reader<impl Fn(&str) -> Option<String>>,
    env: Option<AppEnv>,
) -> Option<Secret> {
    let Some(url) = r.raw("APP_DATABASE_URL") else {
        r.problems
            .push("APP_DATABASE_URL: required (e.g. from `cargo xtask dev up`)".to_owned());
        return None;
    };
    match database::check_url(&url, env == Some(AppEnv::Production)) {
        Ok(_) => Some(Secret(url)),
        Err(problem) => {
            r.problems.push(format!("APP_DATABASE_URL: {problem}"));
            None
        }
    }
}

fn jwt(
    r: &mut Reader<impl Fn(&str) -> Option<String>>,
    env: Option<AppEnv>,
) -> Option<JwtSettings> {
    let private = r.raw("APP_JWT_PRIVATE_KEY");
    let previous = r.string("APP_JWT_PREVIOUS_PUBLIC_KEYS");
    let keys = match (private, env) {
        (None, Some(AppEnv::Development)) => Keyset::development(&previous),
        (None, _) => Err(KeyError::Missing),
        (Some(pem), env) => Keyset::from_pem(&pem, &previous, env != Some(AppEnv::Development)),
    };
    let keys = keys
        .map_err(|e| r.problems.push(format!("{}: {e}", e.variable())))
        .ok();
    let access = r.positive("APP_ACCESS_TOKEN_SECONDS");
    let refresh = r.positive("APP_REFRESH_TOKEN_SECONDS");
    Some(JwtSettings {
        keys: keys?,
        issuer: r.string("APP_JWT_ISSUER"),
        audience: r.string("APP_JWT_AUDIENCE"),
        access_ttl: Duration::from_secs(access?.into()),
        refresh_ttl: Duration::from_secs(refresh?.into()),
    })
}

fn faults(r: &mut Reader<impl Fn(&str) -> Option<String>>, env: Option<AppEnv>) -> Option<Faults> {
    let faults = Faults {
        error_rate: r.rate("APP_FAULT_ERROR_RATE")?,
        latency: Duration::from_millis(r.parse("APP_FAULT_LATENCY_MS", "milliseconds")?),
        latency_rate: r.rate("APP_FAULT_LATENCY_RATE")?,
    };
    let allowed: bool = r.parse("APP_FAULT_ALLOW_IN_PRODUCTION", "true or false")?;
    if faults.enabled() && env == Some(AppEnv::Production) && !allowed {
        r.problems.push(
            "APP_FAULT_ERROR_RATE/APP_FAULT_LATENCY_MS: fault injection is refused under APP_ENV=production (set APP_FAULT_ALLOW_IN_PRODUCTION=true to allow it)".to_owned(),
        );
        return None;
    }
    Some(faults)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Settings::from_lookup(lookup(&[
            ("APP_ENV", "prod"),
            ("APP_LISTEN", "nowhere"),
            ("APP_BODY_LIMIT_BYTES", "lots"),
        ]))
        .unwrap_err();
        let text = err.to_string();
        for key in [
            "APP_ENV",
            "APP_LISTEN",
            "APP_DATABASE_URL",
            "APP_BODY_LIMIT_BYTES",
            "APP_JWT_PRIVATE_KEY",
        ] {
            assert!(text.contains(key), "{key} missing from: {text}");
        }
    }

    #[test]
    fn production_requires_tls_to_the_database() {
        let pairs = [
            ("APP_ENV", "production"),
            ("APP_DATABASE_URL", "postgres://u:p@db/app"),
        ];
        let err = Settings::from_lookup(lookup(&pairs)).unwrap_err();
        assert!(err.to_string().contains("sslmode=verify-full"), "{err}");
    }

    #[test]
    fn production_refuses_the_development_signing_key() {
        let dev = Keyset::development_private_pem();
        let pairs = [
            ("APP_ENV", "production"),
            (
                "APP_DATABASE_URL",
                "postgres://u:p@db/app?sslmode=verify-full",
            ),
            ("APP_JWT_PRIVATE_KEY", dev.as_str()),
        ];
        let err = Settings::from_lookup(lookup(&pairs)).unwrap_err();
        assert!(err.to_string().contains("development signing key"), "{err}");
    }

    #[test]
    fn production_refuses_fault_injection_unless_allowed() {
        let key = Keyset::generate_private_pem();
        let mut pairs = vec![
            ("APP_ENV", "production"),
            (
                "APP_DATABASE_URL",
                "postgres://u:p@db/app?sslmode=verify-full",
            ),
            ("APP_JWT_PRIVATE_KEY", key.as_str()),
            ("APP_FAULT_ERROR_RATE", "0.05"),
        ];
        let err = Settings::from_lookup(lookup(&pairs)).unwrap_err();
        assert!(
            err.to_string().contains("fault injection is refused"),
            "{err}"
        );
        pairs.push(("APP_FAULT_ALLOW_IN_PRODUCTION", "true"));
        let settings = Settings::from_lookup(lookup(&pairs)).unwrap();
        assert!(settings.faults.enabled());
    }

    #[test]
    fn secrets_never_print() {
        let key = Keyset::generate_private_pem();
        let pairs = [
            ("APP_DATABASE_URL", "postgres://u:hunter2@db/app"), // pragma: allowlist secret
            ("APP_JWT_PRIVATE_KEY", key.as_str()),
        ];
        let settings = Settings::from_lookup(lookup(&pairs)).unwrap();
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!printed.contains(&body), "{printed}");
        assert_eq!(settings.env, AppEnv::Development);
    }

    #[test]
    fn every_variable_read_is_documented_and_defaults_parse() {
        let settings =
            Settings::from_lookup(lookup(&[("APP_DATABASE_URL", "postgres://x/y")])).unwrap();
        assert_eq!(settings.body_limit_bytes, 65536);
        assert_eq!(settings.jwt.access_ttl, Duration::from_secs(900));
        assert!(!settings.faults.enabled());
        for v in VARIABLES {
            assert!(v.name.starts_with("APP_"), "{}", v.name);
            assert!(!v.description.is_empty(), "{}", v.name);
        }
    }

    #[test]
    fn json_lists_every_variable_with_its_secrecy() {
        let listed: Vec<serde_json::Value> = serde_json::from_str(&json()).unwrap();
        assert_eq!(listed.len(), VARIABLES.len());
        let url = listed
            .iter()
            .find(|v| v["name"] == "APP_DATABASE_URL")
            .unwrap();
        assert_eq!(url["secret"], true);
        assert!(url["default"].is_null(), "required: no default");
        let log = listed.iter().find(|v| v["name"] == "APP_LOG").unwrap();
        assert_eq!(
            (&log["secret"], &log["default"]),
            (&false.into(), &"info".into())
        );
    }
}
