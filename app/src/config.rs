//! Typed settings from the environment (`APP_` prefix), validated at start-up with every problem listed.

use std::fmt;
use std::net::SocketAddr;

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
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Everything the service reads from its environment.
#[derive(Clone, Debug)]
pub struct Settings {
    pub env: AppEnv,
    pub listen: SocketAddr,
    /// Contains credentials: printed only redacted.
    pub database_url: Secret,
}

/// All configuration problems at once.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let mut problems = Vec::new();
        let env = match lookup("APP_ENV").as_deref().unwrap_or("development") {
            "development" => Some(AppEnv::Development),
            "staging" => Some(AppEnv::Staging),
            "production" => Some(AppEnv::Production),
            other => {
                problems.push(format!(
                    "APP_ENV: `{other}` is not one of development, staging, production"
                ));
                None
            }
        };
        let listen = lookup("APP_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen = listen
            .parse::<SocketAddr>()
            .map_err(|e| problems.push(format!("APP_LISTEN: `{listen}` is not host:port ({e})")))
            .ok();
        let database_url = lookup("APP_DATABASE_URL");
        match database_url.as_deref() {
            None => problems
                .push("APP_DATABASE_URL: required (e.g. from `cargo xtask dev up`)".to_owned()),
            Some(url) if !url.starts_with("postgres://") && !url.starts_with("postgresql://") => {
                problems.push("APP_DATABASE_URL: must be a postgres:// URL".to_owned());
            }
            Some(url)
                if env == Some(AppEnv::Production) && !url.contains("sslmode=verify-full") =>
            {
                problems.push("APP_DATABASE_URL: production requires TLS to the database (sslmode=verify-full)".to_owned());
            }
            Some(_) => {}
        }
        match (env, listen, database_url) {
            (Some(env), Some(listen), Some(url)) if problems.is_empty() => Ok(Settings {
                env,
                listen,
                database_url: Secret(url),
            }),
            _ => Err(ConfigError(problems)),
        }
    }
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
        let err = Settings::from_lookup(lookup(&[("APP_ENV", "prod"), ("APP_LISTEN", "nowhere")]))
            .unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
        let text = err.to_string();
        for key in ["APP_ENV", "APP_LISTEN", "APP_DATABASE_URL"] {
            assert!(text.contains(key), "{text}");
        }
    }

    #[test]
    fn production_requires_tls_to_the_database() {
        let pairs = [
            ("APP_ENV", "production"),
            ("APP_DATABASE_URL", "postgres://u:p@db/app"),
        ];
        let err = Settings::from_lookup(lookup(&pairs)).unwrap_err();
        assert!(err.to_string().contains("sslmode=verify-full"));
    }

    #[test]
    fn the_database_url_never_prints() {
        let pairs = [("APP_DATABASE_URL", "postgres://u:hunter2@db/app")]; // pragma: allowlist secret
        let settings = Settings::from_lookup(lookup(&pairs)).unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert_eq!(settings.env, AppEnv::Development);
    }
}
