//! The one HTTP stack of xtask: reqwest on rustls (aws-lc-rs). A server is trusted when its
//! certificate chains to the platform's roots (`SSL_CERT_FILE`/`SSL_CERT_DIR` are honoured, as
//! by curl and Go) or to a CA the user named (`--ca-file`, `[tls] ca`), or to the throwaway CA
//! of a stand-in this run started. Every HTTP call (registry, Prometheus, smoke, probes) goes
//! through a client made here; no plain-HTTP fallback is ever chosen from a host name.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::exit::Failure;

/// Extra trust roots, on top of the platform's.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    cas: Vec<Extra>,
}

#[derive(Clone, Debug)]
struct Extra {
    /// Where it came from, for error messages (a file, or "the run's throwaway CA").
    origin: String,
    pem: String,
}

/// Debian's bundle of the platform's roots.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

static CONFIGURED: OnceLock<Trust> = OnceLock::new();
/// The throwaway CAs of stand-ins this process started (registry, moto, Prometheus, nginx).
static STAND_INS: Mutex<Vec<Extra>> = Mutex::new(Vec::new());

/// Trusts a stand-in's throwaway CA (generated in this process or in the local environment's
/// state) for the rest of this process; a real endpoint never is one of them.
pub fn trust_stand_in(origin: &str, pem: &str) {
    let mut cas = STAND_INS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !cas.iter().any(|c| c.pem == pem) {
        cas.push(Extra {
            origin: origin.to_owned(),
            pem: pem.to_owned(),
        });
    }
}

impl Trust {
    /// Reads each CA file; an unreadable or empty one is a configuration error naming it.
    pub fn load(files: &[PathBuf]) -> Result<Trust> {
        let mut trust = Trust::default();
        for file in files {
            trust = trust.with_pem(&file.display().to_string(), &read_pem(file)?);
        }
        Ok(trust)
    }

    /// The user's trust for this process (`--ca-file` + `[tls] ca`), set once at start.
    pub fn configure(trust: Trust) {
        let _ = CONFIGURED.set(trust);
    }

    /// What [`Trust::configure`] set (else only the platform's roots), plus the CAs of the
    /// stand-ins this process started.
    pub fn configured() -> Trust {
        let mut trust = CONFIGURED.get().cloned().unwrap_or_default();
        let stand_ins = STAND_INS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        trust.cas.extend(stand_ins.iter().cloned());
        trust
    }

    /// This trust plus one more CA (PEM), e.g. a stand-in's throwaway CA.
    pub fn with_pem(mut self, origin: &str, pem: &str) -> Trust {
        self.cas.push(Extra {
            origin: origin.to_owned(),
            pem: pem.to_owned(),
        });
        self
    }

    /// Every extra CA as one PEM text (for the AWS SDK's trust store and child processes).
    pub fn pem(&self) -> String {
        self.cas.iter().map(|c| c.pem.as_str()).collect()
    }

    /// The platform's roots (`SSL_CERT_FILE`, else Debian's bundle) and these CAs, written to
    /// `path`: `SSL_CERT_FILE` for child processes that verify with the platform's roots.
    pub fn bundle(&self, path: &Path) -> Result<PathBuf> {
        let system = std::env::var_os("SSL_CERT_FILE")
            .map_or_else(|| PathBuf::from(SYSTEM_BUNDLE), PathBuf::from);
        let mut text = std::fs::read_to_string(&system).unwrap_or_default();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&self.pem());
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path.to_path_buf())
    }

    /// A blocking client trusting the platform's roots and these CAs.
    pub fn blocking(&self, timeout: Duration) -> Result<reqwest::blocking::Client> {
        reqwest::blocking::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .tls_certs_merge(self.certificates()?)
            .build()
            .context("cannot build the HTTP client (TLS backend)")
    }

    /// A rustls configuration with the same trust (the platform's verifier plus these CAs), for
    /// clients that do not use reqwest (octocrab).
    pub fn rustls_config(&self) -> Result<std::sync::Arc<rustls::ClientConfig>> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject as _;
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut extra = Vec::new();
        for ca in &self.cas {
            for cert in CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
                extra.push(cert.with_context(|| format!("{}: not a PEM certificate", ca.origin))?);
            }
        }
        let verifier =
            rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
                .context("cannot load the platform's trust roots")?;
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(verifier))
            .with_no_client_auth();
        Ok(std::sync::Arc::new(config))
    }

    fn certificates(&self) -> Result<Vec<reqwest::Certificate>> {
        let mut certs = Vec::new();
        for ca in &self.cas {
            let parsed = reqwest::Certificate::from_pem_bundle(ca.pem.as_bytes())
                .with_context(|| format!("{}: not a PEM certificate bundle", ca.origin))?;
            certs.extend(parsed);
        }
        Ok(certs)
    }

    /// The remedy named when a certificate is not trusted.
    fn remedy(&self) -> String {
        let named: Vec<&str> = self.cas.iter().map(|c| c.origin.as_str()).collect();
        let now = if named.is_empty() {
            "the platform's roots only".to_owned()
        } else {
            format!("the platform's roots and {}", named.join(", "))
        };
        format!(
            "trusted now: {now}; name the server's CA with --ca-file FILE, `[tls] ca` in gatehouse.toml or SSL_CERT_FILE"
        )
    }

    /// An error for a failed request to `url`: a certificate problem becomes
    /// [`Failure::Untrusted`] (exit 7) naming the endpoint, what was wrong and the remedy.
    pub fn explain(&self, url: &str, err: &reqwest::Error) -> anyhow::Error {
        let chain = chain_text(err);
        match certificate_problem(&chain) {
            Some(problem) => Failure::Untrusted(format!(
                "TLS to {}: {problem} ({}); {}",
                endpoint(url),
                rustls_words(&chain),
                self.remedy()
            ))
            .into(),
            None => anyhow::anyhow!("{}: {chain}", endpoint(url)),
        }
    }
}

fn read_pem(file: &Path) -> Result<String> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Failure::Config(format!(
            "cannot read CA file {}: {e}; fix --ca-file or `[tls] ca` in gatehouse.toml",
            file.display()
        ))
    })?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(Failure::Config(format!(
            "CA file {} holds no PEM certificate; fix --ca-file or `[tls] ca` in gatehouse.toml",
            file.display()
        ))
        .into());
    }
    Ok(text)
}

/// `scheme://host:port` of a URL, without path or query (which may carry tokens).
pub fn endpoint(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => url.split('?').next().unwrap_or(url).to_owned(),
    }
}

fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// The verifier's own words, from "invalid peer certificate" on.
fn rustls_words(chain: &str) -> &str {
    chain
        .find("invalid peer certificate")
        .map_or(chain, |at| &chain[at..])
}

/// What rustls said was wrong with a server's certificate, in words, if that was the failure.
fn certificate_problem(chain: &str) -> Option<&'static str> {
    let known = [
        (
            "UnknownIssuer",
            "the certificate is signed by an unknown CA",
        ),
        (
            "unknown issuer",
            "the certificate is signed by an unknown CA",
        ),
        ("Expired", "the certificate has expired"),
        ("expired", "the certificate has expired"),
        (
            "BadSignature",
            "the certificate is not signed by a trusted CA",
        ),
        ("NotValidForName", "the certificate is for another host"),
        ("not valid for name", "the certificate is for another host"),
        ("invalid peer certificate", "the certificate is not valid"),
        ("InvalidCertificate", "the certificate is not valid"),
    ];
    known
        .iter()
        .find(|(needle, _)| chain.contains(needle))
        .map(|(_, problem)| *problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every HTTP client in gatehouse's crates is built here, so every call trusts the same
    /// roots.
    #[test]
    fn no_http_client_is_built_outside_this_module() {
        let xtask = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let crates = [
            "src", "engine", "oci", "cloud", "release", "harness", "deploy", "gates",
        ];
        let banned = ["Client::builder(", "Client::new(", "get("];
        let mut offenders = Vec::new();
        let mut dirs: Vec<PathBuf> = crates
            .iter()
            .map(|c| match *c {
                "src" => xtask.join("src"),
                name => xtask.join(name).join("src"),
            })
            .collect();
        assert!(dirs.iter().all(|d| d.is_dir()), "{dirs:?}");
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("http.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    // `Client` as a bare name only counts where reqwest's is imported.
                    let imported = [
                        "use reqwest::blocking::{Client",
                        "use reqwest::blocking::Client",
                        "use reqwest::Client",
                        "use reqwest::{Client",
                    ]
                    .iter()
                    .any(|u| text.contains(u));
                    let built = text.lines().filter(|l| {
                        banned.iter().any(|b| {
                            l.contains(&format!("reqwest::{b}"))
                                || l.contains(&format!("reqwest::blocking::{b}"))
                        }) || (imported
                            && ["Client::builder(", "Client::new("]
                                .iter()
                                .any(|b| l.contains(b)))
                    });
                    offenders.extend(built.map(|l| format!("{}: {l}", path.display())));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "build clients with http::Trust:\n{}",
            offenders.join("\n")
        );
    }

    #[test]
    fn certificate_problems_are_named() {
        let chain = "error sending request: client error (Connect): invalid peer certificate: UnknownIssuer";
        assert_eq!(
            certificate_problem(chain),
            Some("the certificate is signed by an unknown CA")
        );
        assert_eq!(
            certificate_problem("invalid peer certificate: Expired"),
            Some("the certificate has expired")
        );
        assert_eq!(certificate_problem("connection refused"), None);
    }

    #[test]
    fn endpoints_drop_paths_and_queries() {
        assert_eq!(
            endpoint("https://127.0.0.2:5000/v2/app/blobs/uploads/?token=secret"),
            "https://127.0.0.2:5000"
        );
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_a_configuration_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        for file in [dir.path().join("absent.pem"), empty] {
            let err = Trust::load(std::slice::from_ref(&file)).unwrap_err();
            assert!(matches!(
                crate::exit::failure_of(&err),
                Some(Failure::Config(_))
            ));
            assert!(
                err.to_string().contains(&file.display().to_string()),
                "{err}"
            );
            assert!(err.to_string().contains("--ca-file"), "{err}");
        }
    }
}
