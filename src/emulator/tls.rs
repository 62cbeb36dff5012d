//! `--tls`: a throw-away certificate authority and a leaf certificate for `127.0.0.1` and
//! `localhost`, generated at start. The CA certificate is written to the work dir so that real
//! TLS clients (curl `--cacert`, Python `requests` `verify=`, reqwest) can trust the emulator
//! without trusting anything else.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls;

use super::EmuError;

/// The file name of the CA certificate in the work dir.
pub const CA_FILE: &str = "ca.pem";

/// What the server needs to speak TLS, and where the CA certificate was written.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    pub ca_cert_path: PathBuf,
    pub ca_cert_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
}

fn tls_err(what: &str) -> impl Fn(rcgen::Error) -> EmuError + '_ {
    move |e| EmuError::Tls(format!("{what}: {e}"))
}

/// Generate the CA and the server certificate, write `ca.pem` into `work_dir`, and build the
/// rustls configuration (HTTP/2 and HTTP/1.1 offered over ALPN).
///
/// # Errors
/// When generation fails or the CA file cannot be written.
pub fn generate(work_dir: &Path) -> Result<TlsMaterial, EmuError> {
    let ca_key = KeyPair::generate().map_err(tls_err("CA key"))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err("CA"))?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "huntbook emulator local CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(tls_err("CA certificate"))?;

    let leaf_key = KeyPair::generate().map_err(tls_err("server key"))?;
    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(tls_err("server certificate"))?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let leaf = leaf_params
        .signed_by(&leaf_key, &ca)
        .map_err(tls_err("server certificate"))?;

    let ca_cert_pem = ca.pem();
    let ca_cert_path = work_dir.join(CA_FILE);
    std::fs::write(&ca_cert_path, &ca_cert_pem).map_err(|source| EmuError::Io {
        path: ca_cert_path.display().to_string(),
        source,
    })?;

    let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), ca.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| EmuError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| EmuError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        ca_cert_path,
        ca_cert_pem,
        server_config: Arc::new(config),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_ca_that_signed_the_server_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let m = generate(dir.path()).unwrap();
        let pem = std::fs::read_to_string(&m.ca_cert_path).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(pem, m.ca_cert_pem);
        assert_eq!(m.server_config.alpn_protocols.len(), 2);
    }
}
