//! Certificate credentials: load a PEM file holding an X.509 certificate and its RSA private key,
//! and sign a fresh client assertion (`private_key_jwt`, defender-api.md §1.5) per token request.
//!
//! Supported: PKCS#8 (`PRIVATE KEY`) and PKCS#1 (`RSA PRIVATE KEY`) RSA keys, unencrypted.
//! Encrypted PEM and PKCS#12 (`.pfx`/`.p12`) are refused with the command that converts them:
//! no pure-Rust decryptor is in our dependency set, and adding one for a file that cron reads
//! unattended (so its password would sit next to it anyway) buys little.

use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::signature::{KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls_pki_types::pem::{PemObject, SectionKind};
use secrecy::SecretString;
use serde::Serialize;
use sha1::Digest as _;

/// Which signature the assertion uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssertionAlgorithm {
    /// RS256 with an `x5t` (SHA-1 thumbprint) header: what MSAL has long sent, accepted
    /// everywhere. The default.
    #[default]
    Rs256,
    /// PS256 with an `x5t#S256` (SHA-256 thumbprint) header: what Microsoft's current docs
    /// prescribe.
    Ps256,
}

/// Why a certificate credential cannot be used. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The file cannot be read.
    #[error("cannot read certificate file {}: {detail}", path.display())]
    Read { path: PathBuf, detail: String },
    /// PKCS#12 is not supported.
    #[error(
        "{}: PKCS#12 (.pfx/.p12) certificates are not supported; convert it to PEM with `openssl pkcs12 -in {} -out cert.pem -nodes` and keep the result readable only by you (chmod 600)",
        path.display(),
        path.display()
    )]
    Pkcs12 { path: PathBuf },
    /// The private key is encrypted.
    #[error(
        "{}: the private key is encrypted, which huntbook cannot decrypt; write an unencrypted copy with `openssl pkey -in {} -out key.pem` (append it to the certificate file) and keep it readable only by you (chmod 600)",
        path.display(),
        path.display()
    )]
    Encrypted { path: PathBuf },
    /// No certificate block.
    #[error("{}: no `-----BEGIN CERTIFICATE-----` block found; the file must hold the certificate and its private key in PEM", path.display())]
    NoCertificate { path: PathBuf },
    /// No private key block.
    #[error("{}: no private key found; the file must hold the certificate *and* its private key (`-----BEGIN PRIVATE KEY-----` or `-----BEGIN RSA PRIVATE KEY-----`)", path.display())]
    NoKey { path: PathBuf },
    /// Not an RSA key.
    #[error("{}: the private key is not an RSA key; Microsoft Entra certificate credentials need RSA", path.display())]
    NotRsa { path: PathBuf },
    /// The PEM or DER content is malformed.
    #[error("{}: {detail}", path.display())]
    Malformed { path: PathBuf, detail: String },
    /// The key does not belong to the certificate.
    #[error("{}: the private key does not match the certificate's public key", path.display())]
    Mismatch { path: PathBuf },
    /// Signing the assertion failed.
    #[error("cannot sign the client assertion: {0}")]
    Sign(String),
}

/// A loaded certificate credential. `Debug` shows the subject and thumbprint, never the key.
#[derive(Clone)]
pub struct ClientCertificate {
    key: EncodingKey,
    path: PathBuf,
    sha1: [u8; 20],
    sha256: [u8; 32],
    /// The certificate's subject, e.g. `CN=huntbook`.
    pub subject: String,
    /// Start of validity.
    pub not_before: Option<DateTime<Utc>>,
    /// End of validity.
    pub not_after: Option<DateTime<Utc>>,
    /// Which signature assertions use.
    pub algorithm: AssertionAlgorithm,
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

/// How long an assertion is valid: Microsoft suggests at most 5–10 minutes.
const ASSERTION_LIFETIME_SECS: i64 = 300;

impl ClientCertificate {
    /// Load a PEM file holding the certificate and its private key.
    ///
    /// `password` (the playbook's `certificate.password`) cannot decrypt anything: encrypted
    /// keys are refused with the command that decrypts them, and a password given for an
    /// unencrypted key is ignored with a warning.
    ///
    /// # Errors
    /// See [`CertificateError`].
    pub fn load(
        path: &Path,
        password: Option<&SecretString>,
    ) -> Result<ClientCertificate, CertificateError> {
        let bytes = std::fs::read(path).map_err(|e| CertificateError::Read {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        warn_if_readable_by_others(path);
        let cert = ClientCertificate::from_pem(&bytes, path)?;
        if password.is_some() {
            tracing::warn!(
                certificate = %path.display(),
                "a certificate password was given but the private key is not encrypted; ignoring it"
            );
        }
        Ok(cert)
    }

    /// Parse PEM content; `path` only names the source in errors.
    ///
    /// # Errors
    /// See [`CertificateError`].
    pub fn from_pem(bytes: &[u8], path: &Path) -> Result<ClientCertificate, CertificateError> {
        let p = || path.to_path_buf();
        let text = String::from_utf8_lossy(bytes);
        if !text.contains("-----BEGIN") {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            // PKCS#12 is binary DER (a SEQUENCE); so is a lone DER certificate, which we don't
            // take either, but the PFX explanation is the useful one for both.
            if matches!(ext.as_deref(), Some("pfx" | "p12")) || bytes.first() == Some(&0x30) {
                return Err(CertificateError::Pkcs12 { path: p() });
            }
            return Err(CertificateError::NoCertificate { path: p() });
        }
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            || text.contains("Proc-Type: 4,ENCRYPTED")
        {
            return Err(CertificateError::Encrypted { path: p() });
        }
        let mut cert_der: Option<Vec<u8>> = None;
        let mut key: Option<(SectionKind, Vec<u8>)> = None;
        for item in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(bytes) {
            let (kind, der) = item.map_err(|e| CertificateError::Malformed {
                path: p(),
                detail: format!("invalid PEM: {e}"),
            })?;
            match kind {
                SectionKind::Certificate if cert_der.is_none() => cert_der = Some(der),
                SectionKind::PrivateKey | SectionKind::RsaPrivateKey if key.is_none() => {
                    key = Some((kind, der));
                }
                SectionKind::EcPrivateKey => return Err(CertificateError::NotRsa { path: p() }),
                _ => {}
            }
        }
        let cert_der = cert_der.ok_or_else(|| CertificateError::NoCertificate { path: p() })?;
        let (kind, key_der) = key.ok_or_else(|| CertificateError::NoKey { path: p() })?;
        let pkcs1 = match kind {
            SectionKind::RsaPrivateKey => key_der,
            _ => pkcs8_rsa_inner(&key_der, path)?,
        };
        let pair = RsaKeyPair::from_der(&pkcs1).map_err(|e| CertificateError::Malformed {
            path: p(),
            detail: format!("the RSA private key is not usable: {e}"),
        })?;

        let (_, cert) = x509_parser::parse_x509_certificate(&cert_der).map_err(|e| {
            CertificateError::Malformed {
                path: p(),
                detail: format!("the certificate does not parse: {e}"),
            }
        })?;
        if cert.public_key().subject_public_key.data.as_ref() != pair.public_key().as_ref() {
            return Err(CertificateError::Mismatch { path: p() });
        }
        let validity = cert.validity();
        let ts = |t: i64| Utc.timestamp_opt(t, 0).single();
        let subject = cert.subject().to_string();
        let not_before = ts(validity.not_before.timestamp());
        let not_after = ts(validity.not_after.timestamp());

        let cc = ClientCertificate {
            key: EncodingKey::from_rsa_der(&pkcs1),
            path: path.to_path_buf(),
            sha1: sha1::Sha1::digest(&cert_der).into(),
            sha256: sha2::Sha256::digest(&cert_der).into(),
            subject,
            not_before,
            not_after,
            algorithm: AssertionAlgorithm::default(),
        };
        if cc.is_expired() {
            tracing::warn!(
                certificate = %cc.path.display(),
                subject = %cc.subject,
                not_after = ?cc.not_after,
                "the certificate has expired; Microsoft Entra may refuse it"
            );
        }
        Ok(cc)
    }

    /// Use this signature algorithm for assertions.
    #[must_use]
    pub fn with_algorithm(mut self, algorithm: AssertionAlgorithm) -> ClientCertificate {
        self.algorithm = algorithm;
        self
    }

    /// Whether the certificate's validity has ended.
    #[must_use]
    pub fn is_expired(&self) -> bool {
        self.not_after.is_some_and(|t| t < Utc::now())
    }

    /// The SHA-1 thumbprint in upper-case hex, as the Azure portal shows it.
    #[must_use]
    pub fn thumbprint(&self) -> String {
        self.sha1.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// `x5t`: base64url (unpadded) of the SHA-1 thumbprint bytes.
    #[must_use]
    pub fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.sha1)
    }

    /// `x5t#S256`: base64url (unpadded) of the SHA-256 thumbprint bytes.
    #[must_use]
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.sha256)
    }

    /// The file it was loaded from.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sign a fresh client assertion for one token request: `aud` = the token URL,
    /// `iss` = `sub` = the client id, a new `jti`, `nbf` = `iat` = now, `exp` = now + 5 min.
    ///
    /// # Errors
    /// [`CertificateError::Sign`] if the crypto backend refuses.
    pub fn assertion(
        &self,
        token_url: &str,
        client_id: &str,
    ) -> Result<SecretString, CertificateError> {
        let mut header = match self.algorithm {
            AssertionAlgorithm::Rs256 => {
                let mut h = Header::new(Algorithm::RS256);
                h.x5t = Some(self.x5t());
                h
            }
            AssertionAlgorithm::Ps256 => {
                let mut h = Header::new(Algorithm::PS256);
                h.x5t_s256 = Some(self.x5t_s256());
                h
            }
        };
        header.typ = Some("JWT".to_string());
        let now = Utc::now().timestamp();
        let claims = AssertionClaims {
            aud: token_url,
            iss: client_id,
            sub: client_id,
            jti: uuid::Uuid::new_v4().to_string(),
            nbf: now,
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(SecretString::from)
            .map_err(|e| CertificateError::Sign(e.to_string()))
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("path", &self.path)
            .field("subject", &self.subject)
            .field("thumbprint", &self.thumbprint())
            .field("not_after", &self.not_after)
            .field("algorithm", &self.algorithm)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            certificate = %path.display(),
            "the certificate file holds a private key but is readable by other users; chmod 600 it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// One DER TLV: (tag, content, rest).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&len0, rest) = rest.split_first()?;
    let (len, rest) = if len0 < 0x80 {
        (usize::from(len0), rest)
    } else {
        let n = usize::from(len0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const OID_RSA_ENCRYPTION: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo` (RFC 5208):
/// `SEQUENCE { INTEGER version, SEQUENCE { OID alg, … }, OCTET STRING key, … }`.
fn pkcs8_rsa_inner(der: &[u8], path: &Path) -> Result<Vec<u8>, CertificateError> {
    let malformed = || CertificateError::Malformed {
        path: path.to_path_buf(),
        detail: "the PKCS#8 private key is malformed".to_string(),
    };
    let (tag, body, _) = tlv(der).ok_or_else(malformed)?;
    if tag != 0x30 {
        return Err(malformed());
    }
    let (tag, _version, rest) = tlv(body).ok_or_else(malformed)?;
    if tag != 0x02 {
        return Err(malformed());
    }
    let (tag, alg, rest) = tlv(rest).ok_or_else(malformed)?;
    if tag != 0x30 {
        return Err(malformed());
    }
    let (tag, oid, _) = tlv(alg).ok_or_else(malformed)?;
    if tag != 0x06 {
        return Err(malformed());
    }
    if oid != OID_RSA_ENCRYPTION {
        return Err(CertificateError::NotRsa {
            path: path.to_path_buf(),
        });
    }
    let (tag, key, _) = tlv(rest).ok_or_else(malformed)?;
    if tag != 0x04 {
        return Err(malformed());
    }
    Ok(key.to_vec())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use jsonwebtoken::{DecodingKey, Validation};
    use secrecy::ExposeSecret;
    use std::sync::OnceLock;

    /// A self-signed RSA certificate and its PKCS#8 key, generated once per test binary.
    pub(crate) fn test_cert() -> &'static (String, String) {
        static CERT: OnceLock<(String, String)> = OnceLock::new();
        CERT.get_or_init(|| {
            let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
            let mut params = rcgen::CertificateParams::new(vec!["huntbook.test".into()]).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, "huntbook-test");
            let cert = params.self_signed(&key).unwrap();
            (cert.pem(), key.serialize_pem())
        })
    }

    fn pem_block(label: &str, der: &[u8]) -> String {
        let b64 = STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    fn public_pem(cert_pem: &str) -> String {
        let der = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
        pem_block(
            "RSA PUBLIC KEY",
            cert.public_key().subject_public_key.data.as_ref(),
        )
    }

    #[derive(serde::Deserialize)]
    struct Claims {
        aud: String,
        iss: String,
        sub: String,
        jti: String,
        nbf: i64,
        iat: i64,
        exp: i64,
    }

    fn verify(jwt: &str, alg: Algorithm, cert_pem: &str) -> (jsonwebtoken::Header, Claims) {
        let key = DecodingKey::from_rsa_pem(public_pem(cert_pem).as_bytes()).unwrap();
        let mut v = Validation::new(alg);
        v.set_audience(&["https://login.example/t/oauth2/v2.0/token"]);
        let data = jsonwebtoken::decode::<Claims>(jwt, &key, &v).unwrap();
        (data.header, data.claims)
    }

    #[test]
    fn pkcs8_key_signs_rs256_assertion_with_x5t() {
        let (cert, key) = test_cert();
        let pem = format!("{cert}{key}");
        let cc = ClientCertificate::from_pem(pem.as_bytes(), Path::new("c.pem")).unwrap();
        assert_eq!(cc.thumbprint().len(), 40);
        assert!(cc.subject.contains("huntbook-test"));
        assert!(!cc.is_expired());
        let a = cc
            .assertion("https://login.example/t/oauth2/v2.0/token", "client-1")
            .unwrap();
        let (header, claims) = verify(a.expose_secret(), Algorithm::RS256, cert);
        assert_eq!(header.x5t.as_deref(), Some(cc.x5t().as_str()));
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(claims.aud, "https://login.example/t/oauth2/v2.0/token");
        assert_eq!(
            (claims.iss.as_str(), claims.sub.as_str()),
            ("client-1", "client-1")
        );
        assert_eq!(claims.exp - claims.nbf, 300);
        assert_eq!(claims.iat, claims.nbf);
        assert!(uuid::Uuid::parse_str(&claims.jti).is_ok());
        let b = cc
            .assertion("https://login.example/t/oauth2/v2.0/token", "client-1")
            .unwrap();
        let (_, again) = verify(b.expose_secret(), Algorithm::RS256, cert);
        assert_ne!(claims.jti, again.jti, "each assertion needs a fresh jti");
    }

    #[test]
    fn pkcs1_key_and_ps256_with_x5t_s256() {
        let (cert, key) = test_cert();
        let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let pkcs1 = pkcs8_rsa_inner(pkcs8.secret_pkcs8_der(), Path::new("k")).unwrap();
        // Key first, certificate second: order must not matter.
        let pem = format!("{}{cert}", pem_block("RSA PRIVATE KEY", &pkcs1));
        let cc = ClientCertificate::from_pem(pem.as_bytes(), Path::new("c.pem"))
            .unwrap()
            .with_algorithm(AssertionAlgorithm::Ps256);
        let a = cc
            .assertion("https://login.example/t/oauth2/v2.0/token", "c")
            .unwrap();
        let (header, _) = verify(a.expose_secret(), Algorithm::PS256, cert);
        assert_eq!(header.x5t_s256.as_deref(), Some(cc.x5t_s256().as_str()));
        assert!(header.x5t.is_none());
    }

    #[test]
    fn x5t_matches_the_documented_encoding() {
        // defender-api.md §1.5: hex 84E05C1D98BCE3A5421D225B140B36E86A3D5534 → hOBcHZi846VCHSJbFAs26Go9VTQ
        let (cert, key) = test_cert();
        let mut cc =
            ClientCertificate::from_pem(format!("{cert}{key}").as_bytes(), Path::new("c")).unwrap();
        cc.sha1 = [
            0x84, 0xE0, 0x5C, 0x1D, 0x98, 0xBC, 0xE3, 0xA5, 0x42, 0x1D, 0x22, 0x5B, 0x14, 0x0B,
            0x36, 0xE8, 0x6A, 0x3D, 0x55, 0x34,
        ];
        assert_eq!(cc.x5t(), "hOBcHZi846VCHSJbFAs26Go9VTQ");
        assert_eq!(cc.thumbprint(), "84E05C1D98BCE3A5421D225B140B36E86A3D5534");
    }

    #[test]
    fn unusable_files_get_clear_errors() {
        let (cert, key) = test_cert();
        let p = Path::new("x.pem");
        let err = |bytes: &[u8], path: &Path| {
            ClientCertificate::from_pem(bytes, path)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(err(cert.as_bytes(), p).contains("no private key found"));
        assert!(err(key.as_bytes(), p).contains("no `-----BEGIN CERTIFICATE-----`"));
        assert!(err(b"\x30\x82\x01\x00binary", Path::new("x.pfx")).contains("PKCS#12"));
        let enc = format!(
            "{cert}-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
        );
        assert!(err(enc.as_bytes(), p).contains("openssl pkey"));
        let ec =
            format!("{cert}-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n");
        assert!(err(ec.as_bytes(), p).contains("not an RSA key"));
        // Another key: the certificate and key do not match.
        let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let mismatched = format!("{cert}{}", other.serialize_pem());
        assert!(err(mismatched.as_bytes(), p).contains("does not match"));
    }

    #[test]
    fn debug_hides_the_key() {
        let (cert, key) = test_cert();
        let cc =
            ClientCertificate::from_pem(format!("{cert}{key}").as_bytes(), Path::new("c")).unwrap();
        let dbg = format!("{cc:?}");
        assert!(dbg.contains("REDACTED"));
        let key_body: String = key.lines().nth(1).unwrap_or("").chars().take(20).collect();
        assert!(!dbg.contains(&key_body));
    }
}
