//! The PostgreSQL connection: the URL's TLS settings checked with the configuration, and the
//! first connection at start-up, whose failure names what was wrong and the setting that fixes it.
//!
//! sqlx reads `sslmode` (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`) and
//! `sslrootcert` from the URL; TLS is rustls on aws-lc-rs, trusting Mozilla's roots plus the
//! `sslrootcert` bundle.

use std::error::Error as StdError;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{Connection, PgConnection};

/// How long the start-up check waits for the server before giving up.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The query keys sqlx accepts for the TLS mode and the CA bundle (the last one wins, as in sqlx).
const MODE_KEYS: &[&str] = &["sslmode", "ssl-mode"];
const ROOT_CERT_KEYS: &[&str] = &["sslrootcert", "ssl-root-cert", "ssl-ca"];

/// Parses `url` as sqlx will and checks what can be checked without connecting: the scheme, the
/// `sslmode` value, that a `sslrootcert` file holds certificates, and that production verifies
/// the server (`verify-full` in the URL itself, whatever `PGSSLMODE` says). The problem is
/// phrased for `APP_DATABASE_URL: <problem>`.
pub fn check_url(url: &str, production: bool) -> Result<PgConnectOptions, String> {
    if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        return Err("must be a postgres:// URL".to_owned());
    }
    let options = PgConnectOptions::from_str(url).map_err(|e| format!("not a valid URL ({e})"))?;
    let parsed = url::Url::parse(url).map_err(|e| format!("not a valid URL ({e})"))?;
    let mode = query(&parsed, MODE_KEYS);
    if production && mode.as_deref() != Some("verify-full") {
        return Err(format!(
            "production requires a verified TLS connection to the database, and sslmode is {}: \
             add sslmode=verify-full (and sslrootcert=<the server's CA bundle>)",
            mode.as_deref().unwrap_or("not set")
        ));
    }
    if let Some(root_cert) = query(&parsed, ROOT_CERT_KEYS) {
        check_root_cert(&root_cert)?;
    }
    Ok(options)
}

/// The last value of any of `keys` in the URL's query.
fn query(url: &url::Url, keys: &[&str]) -> Option<String> {
    url.query_pairs()
        .filter(|(key, _)| keys.contains(&key.as_ref()))
        .map(|(_, value)| value.into_owned())
        .last()
}

/// `sslmode` as written in a URL.
pub fn mode_name(mode: PgSslMode) -> &'static str {
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

/// A `sslrootcert` naming a file must name a readable PEM bundle: sqlx would otherwise fail only
/// at the first connection, or (for a file without certificates) silently trust just Mozilla's roots.
fn check_root_cert(value: &str) -> Result<(), String> {
    if value.trim_start().starts_with("-----BEGIN") {
        return Ok(());
    }
    let remedy = "point it at the PEM bundle of the CA that issued the server's certificate";
    let text = std::fs::read_to_string(value)
        .map_err(|e| format!("sslrootcert `{value}` cannot be read ({e}): {remedy}"))?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!(
            "sslrootcert `{value}` holds no PEM certificate: {remedy}"
        ));
    }
    Ok(())
}

/// The first connection failed: nothing was applied. `main` exits 3 on it.
#[derive(Debug, thiserror::Error)]
#[error("APP_DATABASE_URL: cannot connect to {target}: {problem}")]
pub struct ConnectError {
    /// `host:port/database`: never the user or password.
    pub target: String,
    pub problem: Problem,
}

/// What went wrong, each with the setting that fixes it.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error(
        "the server does not support TLS, and sslmode={0} requires it: enable TLS on the server \
         (ssl=on), or, outside production, set sslmode=disable"
    )]
    TlsUnsupported(&'static str),
    #[error(
        "the server requires TLS, and sslmode={0} does not use it ({1}): set sslmode=verify-full \
         and sslrootcert=<the server's CA bundle>"
    )]
    TlsRequired(&'static str, String),
    #[error(
        "the server's certificate is not trusted ({0}): set sslrootcert to the PEM bundle of the \
         CA that issued it (on RDS, the bundle from https://truststore.pki.rds.amazonaws.com)"
    )]
    Untrusted(String),
    #[error(
        "the server's certificate is not valid for this host ({0}): connect by a host name the \
         certificate lists (on RDS, the instance's endpoint)"
    )]
    WrongHost(String),
    #[error(
        "the server cannot be reached ({0}): check the host and port, and that PostgreSQL runs"
    )]
    Unreachable(String),
    #[error("no answer within {0:?}: check the host, the port and the firewall")]
    TimedOut(Duration),
    #[error("{0}: check the user, password and database in the URL")]
    Refused(String),
    #[error("{0}")]
    Other(String),
}

/// Opens one connection with `options` and closes it, so a server that cannot be reached or
/// trusted stops the start before anything (migrations) runs.
pub async fn verify(options: &PgConnectOptions) -> Result<(), ConnectError> {
    let target = format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    );
    let attempt = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options)).await;
    let problem = match attempt {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            return Ok(());
        }
        Ok(Err(error)) => classify(&error, options.get_ssl_mode()),
        Err(_) => Problem::TimedOut(CONNECT_TIMEOUT),
    };
    Err(ConnectError { target, problem })
}

/// Tells a TLS failure apart from the rest by the typed causes sqlx wraps (rustls's errors,
/// PostgreSQL's SQLSTATE), not by the wording of messages, except sqlx's one fixed refusal.
fn classify(error: &sqlx::Error, mode: PgSslMode) -> Problem {
    if let Some(tls) = rustls_cause(error) {
        return match tls {
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            ) => Problem::WrongHost(tls.to_string()),
            rustls::Error::InvalidCertificate(_) => Problem::Untrusted(tls.to_string()),
            other => Problem::Other(format!("TLS handshake failed: {other}")),
        };
    }
    match error {
        // sqlx's own words when the server answers the SSLRequest with `N`.
        sqlx::Error::Tls(e) if e.to_string() == "server does not support TLS" => {
            Problem::TlsUnsupported(mode_name(mode))
        }
        sqlx::Error::Database(db)
            if db.code().as_deref() == Some("28000")
                && matches!(mode, PgSslMode::Disable | PgSslMode::Allow) =>
        {
            Problem::TlsRequired(mode_name(mode), db.message().to_owned())
        }
        sqlx::Error::Database(db) => Problem::Refused(db.message().to_owned()),
        sqlx::Error::Io(io) => Problem::Unreachable(io.to_string()),
        other => Problem::Other(other.to_string()),
    }
}

/// The rustls error somewhere in `error`'s causes; `io::Error` hides its payload from `source()`.
fn rustls_cause(error: &sqlx::Error) -> Option<&rustls::Error> {
    let mut next: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = next {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let inner = current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        if inner.is_some() {
            return inner;
        }
        next = current.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "postgres://app:pw@db.example.com:5432/app"; // pragma: allowlist secret

    #[test]
    fn production_refuses_every_sslmode_weaker_than_verify_full() {
        for query in [
            "",
            "?sslmode=disable",
            "?sslmode=allow",
            "?sslmode=prefer",
            "?sslmode=require",
            "?sslmode=verify-ca",
            "?sslmode=verify-full&sslmode=require",
        ] {
            let problem = check_url(&format!("{BASE}{query}"), true).unwrap_err();
            assert!(
                problem.contains("add sslmode=verify-full"),
                "{query}: {problem}"
            );
            assert!(
                check_url(&format!("{BASE}{query}"), false).is_ok(),
                "{query} is allowed outside production"
            );
        }
        let options = check_url(&format!("{BASE}?sslmode=verify-full"), true).unwrap();
        assert!(matches!(options.get_ssl_mode(), PgSslMode::VerifyFull));
    }

    #[test]
    fn sslmode_and_sslrootcert_are_read_from_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let url = format!("{BASE}?sslmode=verify-ca&sslrootcert={}", ca.display());
        let options = check_url(&url, false).unwrap();
        assert!(matches!(options.get_ssl_mode(), PgSslMode::VerifyCa));
        let lossy = sqlx::ConnectOptions::to_url_lossy(&options).to_string();
        assert!(lossy.contains("sslrootcert="), "{lossy}");
        assert!(lossy.contains("ca.pem"), "sqlx keeps the CA path: {lossy}");

        let bad = check_url(&format!("{BASE}?sslmode=verify-fully"), false).unwrap_err();
        assert!(bad.contains("verify-fully"), "{bad}");
    }

    #[test]
    fn a_sslrootcert_that_is_missing_or_holds_no_certificate_is_a_configuration_problem() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let url = format!(
            "{BASE}?sslmode=verify-full&sslrootcert={}",
            missing.display()
        );
        let problem = check_url(&url, true).unwrap_err();
        assert!(
            problem.contains("sslrootcert") && problem.contains("cannot be read"),
            "{problem}"
        );

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let url = format!(
            "{BASE}?sslmode=verify-full&ssl-root-cert={}",
            empty.display()
        );
        let problem = check_url(&url, true).unwrap_err();
        assert!(problem.contains("holds no PEM certificate"), "{problem}");
    }
}
