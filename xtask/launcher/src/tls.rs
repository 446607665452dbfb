//! A throwaway certificate authority per run: it issues the server certificates of every local
//! stand-in (registry, PostgreSQL, moto, Prometheus, nginx), so clients are tested on the same
//! TLS paths they take against ECR, RDS and the rest. Nothing it makes is ever committed.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// The names every local stand-in answers to.
pub const LOOPBACK_NAMES: &[&str] = &["localhost", "127.0.0.1"];

/// A certificate authority whose key lives only in `dir` (0600), for one run or one
/// long-lived local environment.
pub struct Ca {
    dir: PathBuf,
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
    _temp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// A server certificate and its key, as files a server's configuration names.
#[derive(Clone, Debug)]
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Leaf {
    /// A rustls server configuration presenting this certificate: what a test's own TLS
    /// endpoint (a token service, a collector, an API stub) serves with.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>> {
        use rustls::pki_types::PrivateKeyDer;
        let certs = CertificateDer::pem_file_iter(&self.cert)
            .with_context(|| format!("cannot read {}", self.cert.display()))?
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .with_context(|| format!("cannot read {}", self.key.display()))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        Ok(Arc::new(config))
    }
}

/// How long an issued certificate is valid, relative to now (`Expired` is a fault to test with).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    Current,
    Expired,
}

impl Ca {
    /// A new CA in a temp dir that is deleted when the value is dropped.
    pub fn throwaway() -> Result<Ca> {
        let temp = tempfile::Builder::new()
            .prefix("gatehouse-ca-")
            .tempdir()
            .context("cannot create a temp dir for the throwaway CA")?;
        let mut ca = Ca::create(temp.path())?;
        ca._temp = Some(temp);
        Ok(ca)
    }

    /// The CA kept in `dir` (`ca.pem`, `ca.key`), created there first if it is not.
    pub fn open_or_create(dir: &Path) -> Result<Ca> {
        let (cert, key) = (dir.join("ca.pem"), dir.join("ca.key"));
        if !(cert.is_file() && key.is_file()) {
            return Ca::create(dir);
        }
        let read = |p: &Path| {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
        };
        let (cert_pem, key_pem) = (read(&cert)?, read(&key)?);
        let key = KeyPair::from_pem(&key_pem)
            .with_context(|| format!("{}: not a private key", key.display()))?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)
            .with_context(|| format!("{}: not a CA certificate", cert.display()))?;
        Ok(Ca {
            dir: dir.to_path_buf(),
            cert_pem,
            issuer,
            _temp: None,
        })
    }

    fn create(dir: &Path) -> Result<Ca> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let key = KeyPair::generate().context("cannot generate the CA's key")?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A name of its own: two throwaway CAs are two issuers, as two real CAs are.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!("gatehouse throwaway CA {}-{nanos}", std::process::id());
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(30);
        let cert = params.self_signed(&key).context("cannot sign the CA")?;
        write_private(&dir.join("ca.key"), &key.serialize_pem())?;
        write_public(&dir.join("ca.pem"), &cert.pem())?;
        Ok(Ca {
            dir: dir.to_path_buf(),
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
            _temp: None,
        })
    }

    /// The CA certificate (PEM) clients add to their trust roots.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// `ca.pem`: the file to name in `sslrootcert`, `--ca-file` or `[tls] ca`.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A server certificate for `names` (DNS names or IP addresses), written as `<name>.crt` and
    /// `<name>.key` (0600) next to the CA.
    pub fn issue(&self, name: &str, names: &[&str]) -> Result<Leaf> {
        self.issue_with(name, names, Validity::Current)
    }

    pub fn issue_with(&self, name: &str, names: &[&str], validity: Validity) -> Result<Leaf> {
        self.issue_in(&self.dir, name, names, validity)
    }

    /// A server certificate written into `dir` (a component's own directory).
    pub fn issue_in(
        &self,
        dir: &Path,
        name: &str,
        names: &[&str],
        validity: Validity,
    ) -> Result<Leaf> {
        let key = KeyPair::generate().context("cannot generate a server key")?;
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = time::OffsetDateTime::now_utc();
        (params.not_before, params.not_after) = match validity {
            Validity::Current => (
                now - time::Duration::hours(1),
                now + time::Duration::days(7),
            ),
            Validity::Expired => (now - time::Duration::days(2), now - time::Duration::days(1)),
        };
        let cert = params
            .signed_by(&key, &self.issuer)
            .with_context(|| format!("cannot issue a certificate for {name}"))?;
        let leaf = Leaf {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
        };
        write_public(&leaf.cert, &cert.pem())?;
        write_private(&leaf.key, &key.serialize_pem())?;
        Ok(leaf)
    }
}

fn write_public(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
        .with_context(|| format!("cannot chmod {}", path.display()))
}

/// Writes `text` to `path`, readable by its owner only (0600 from creation): keys, tokens.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The raw answer (head and body) to an HTTP/1.0 `GET path` over TLS to `host:port`, trusting
/// only `ca_pem`; `None` when nothing answers or the handshake fails.
pub fn https_get(host: &str, port: u16, path: &str, ca_pem: &str) -> Option<Vec<u8>> {
    let config = client_config(ca_pem).ok()?;
    let name = server_name(host)?;
    let conn = rustls::ClientConnection::new(config, name).ok()?;
    let sock = TcpStream::connect((host, port)).ok()?;
    sock.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n");
    tls.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    // A server that closes without close_notify still sent a whole HTTP/1.0 answer.
    match tls.read_to_end(&mut answer) {
        Ok(_) => Some(answer),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => {
            Some(answer)
        }
        Err(_) => None,
    }
}

/// An HTTPS endpoint on a free loopback port with `leaf`, answering each of `n` connections with
/// `response` (a whole HTTP/1.1 answer): the stand-in for an API that cannot run here, so its
/// client is still tested on TLS. Returns the port.
pub fn https_stub(leaf: &Leaf, response: &'static [u8], n: usize) -> Result<u16> {
    let config = leaf.server_config()?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(n).flatten() {
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let mut head = [0u8; 4096];
            // A client that refuses the certificate ends the handshake here: nothing to answer.
            if tls.read(&mut head).is_ok_and(|n| n > 0) {
                let _ = tls.write_all(response);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        }
    });
    Ok(port)
}

/// A rustls client configuration that trusts `ca_pem` alone.
fn client_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.context("a CA certificate is not valid PEM")?)
            .context("a CA certificate is not usable as a trust root")?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn server_name(host: &str) -> Option<ServerName<'static>> {
    match host.parse::<IpAddr>() {
        Ok(ip) => Some(ServerName::IpAddress(ip.into())),
        Err(_) => ServerName::try_from(host.to_owned()).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TLS server with `leaf` on a free loopback port answering `n` requests with `ok`.
    fn serve(leaf: &Leaf, n: usize) -> u16 {
        https_stub(leaf, b"HTTP/1.0 200 OK\r\n\r\nok", n).unwrap()
    }

    #[test]
    fn a_certificate_from_the_ca_is_trusted_for_its_names() {
        let ca = Ca::throwaway().unwrap();
        let leaf = ca.issue("server", LOOPBACK_NAMES).unwrap();
        let port = serve(&leaf, 1);
        let answer = https_get("127.0.0.1", port, "/", ca.cert_pem()).unwrap();
        assert!(answer.starts_with(b"HTTP/1.0 200 OK"), "{answer:?}");
        let mode = std::fs::metadata(&leaf.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "a server key must be private");
    }

    #[test]
    fn an_unknown_ca_an_expired_certificate_and_another_host_are_refused() {
        let (ca, other) = (Ca::throwaway().unwrap(), Ca::throwaway().unwrap());
        let good = ca.issue("good", LOOPBACK_NAMES).unwrap();
        let port = serve(&good, 1);
        assert_eq!(https_get("127.0.0.1", port, "/", other.cert_pem()), None);

        let expired = ca
            .issue_with("expired", LOOPBACK_NAMES, Validity::Expired)
            .unwrap();
        let port = serve(&expired, 1);
        assert_eq!(https_get("127.0.0.1", port, "/", ca.cert_pem()), None);

        let elsewhere = ca.issue("elsewhere", &["db.example.com"]).unwrap();
        let port = serve(&elsewhere, 1);
        assert_eq!(https_get("127.0.0.1", port, "/", ca.cert_pem()), None);
    }

    #[test]
    fn a_ca_reopened_from_its_dir_is_the_same_root() {
        let dir = tempfile::tempdir().unwrap();
        let first = Ca::open_or_create(dir.path()).unwrap();
        let again = Ca::open_or_create(dir.path()).unwrap();
        assert_eq!(first.cert_pem(), again.cert_pem());
        let leaf = again.issue("nginx", LOOPBACK_NAMES).unwrap();
        let port = serve(&leaf, 1);
        assert!(https_get("127.0.0.1", port, "/", first.cert_pem()).is_some());
    }
}
