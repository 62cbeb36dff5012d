//! Key material generated at start: the RSA key that signs every issued token (published in the
//! JWKS with a self-signed certificate, as Entra publishes its keys), and the RSA key plus
//! self-signed certificate of each certificate-credential app.
//!
//! Generating an RSA-2048 key takes 50–100 ms, most of an emulator's start-up. Emulators of one
//! process (`huntbook test` starts one per case) reuse the keys generated for the same tenant
//! through a process-wide cache; each emulator still wraps them in certificates of its own
//! (random serial numbers), so the signing `kid` and the apps' thumbprints differ between
//! instances and a token or assertion made for one emulator is refused by every other one.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use base64::Engine as _;
use rustls_pki_types::PrivatePkcs8KeyDer;
use serde_json::{Value, json};
use sha1::{Digest as _, Sha1};
use sha2::Sha256;

use crate::emulator::EmuError;

/// base64url without padding, the encoding of every JWT part and JWK member.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode base64url, tolerating padding and the standard alphabet: Microsoft's own docs show
/// `x5t` values with `=` padding, and some clients send them that way.
pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    let trimmed = text.trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .ok()
}

/// SHA-1 of a certificate's DER: the `x5t` thumbprint.
#[must_use]
pub fn sha1_thumbprint(der: &[u8]) -> Vec<u8> {
    Sha1::digest(der).to_vec()
}

/// SHA-256 of a certificate's DER: the `x5t#S256` thumbprint.
#[must_use]
pub fn sha256_thumbprint(der: &[u8]) -> Vec<u8> {
    Sha256::digest(der).to_vec()
}

fn upper_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// An RSA private key: the parsed key and its PKCS#8 DER (for certificates and PEM files).
/// No `Debug`: it is a private key.
#[derive(Clone)]
struct RsaKey {
    key: Arc<KeyPair>,
    pkcs8: Arc<[u8]>,
}

fn crypto(what: &str, e: &dyn fmt::Display) -> EmuError {
    EmuError::Crypto(format!("{what}: {e}"))
}

impl RsaKey {
    fn generate() -> Result<RsaKey, EmuError> {
        let key = KeyPair::generate(KeySize::Rsa2048).map_err(|e| crypto("RSA key", &e))?;
        let pkcs8: Arc<[u8]> = key
            .as_der()
            .map_err(|e| crypto("RSA key encoding", &e))?
            .as_ref()
            .into();
        Ok(RsaKey {
            key: Arc::new(key),
            pkcs8,
        })
    }

    /// The key this process generated for `purpose` in `tenant` — generated now the first
    /// time. Emulators starting at once for the same tenant wait for one generation.
    fn for_tenant(tenant: &str, purpose: &str) -> Result<RsaKey, EmuError> {
        type Slot = Arc<Mutex<Option<RsaKey>>>;
        static CACHE: OnceLock<Mutex<HashMap<(String, String), Slot>>> = OnceLock::new();
        let slot: Slot = {
            let mut slots = CACHE
                .get_or_init(Mutex::default)
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // Tenant ids are GUIDs, which callers may spell in either case.
            let k = (tenant.to_ascii_lowercase(), purpose.to_string());
            Arc::clone(slots.entry(k).or_default())
        };
        // A panic during generation leaves the slot empty, never half-written.
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(key) = slot.as_ref() {
            return Ok(key.clone());
        }
        let key = RsaKey::generate()?;
        *slot = Some(key.clone());
        Ok(key)
    }
}

/// An RSA key and a self-signed certificate for it.
struct RsaCert {
    key: RsaKey,
    cert_der: Vec<u8>,
    cert_pem: String,
}

/// A new self-signed certificate for `key`. Its serial number is random, so two certificates
/// of one key differ (and so do their thumbprints).
fn rsa_cert(common_name: &str, key: RsaKey) -> Result<RsaCert, EmuError> {
    let rc_key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(&key.pkcs8[..]),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(|e| crypto("RSA key import", &e))?;
    let mut params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| crypto("cert", &e))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    // rcgen derives the serial from the public key by default: with a reused key, every
    // instance would publish the same certificate and `kid`.
    let mut serial: [u8; 20] = rand::random();
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let cert = params
        .self_signed(&rc_key)
        .map_err(|e| crypto("self-signed certificate", &e))?;
    Ok(RsaCert {
        key,
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
    })
}

/// The RSA public key (PKCS#1 `RSAPublicKey` DER), modulus and exponent of a certificate.
struct CertPublicKey {
    pkcs1: Vec<u8>,
    n: Vec<u8>,
    e: Vec<u8>,
}

fn cert_public_key(der: &[u8]) -> Result<CertPublicKey, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let spki = cert.public_key();
    let pkcs1 = spki.subject_public_key.data.to_vec();
    match spki.parsed().map_err(|e| e.to_string())? {
        x509_parser::public_key::PublicKey::RSA(rsa) => {
            let strip = |b: &[u8]| {
                let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
                b[first..].to_vec()
            };
            Ok(CertPublicKey {
                n: strip(rsa.modulus),
                e: strip(rsa.exponent),
                pkcs1,
            })
        }
        _ => Err("the certificate's key is not an RSA key".to_string()),
    }
}

/// The key that signs the emulator's tokens.
pub struct SigningKey {
    key: Arc<KeyPair>,
    /// Key id: the base64url SHA-1 thumbprint of the certificate, like Entra's `kid`/`x5t`.
    pub kid: String,
    cert_der: Vec<u8>,
    public: CertPublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generate a fresh 2048-bit key and its self-signed certificate.
    ///
    /// # Errors
    /// When key or certificate generation fails.
    pub fn generate() -> Result<SigningKey, EmuError> {
        SigningKey::with_key(RsaKey::generate()?)
    }

    /// The signing key of `tenant`, generated once per process, in a certificate of its own
    /// (its own `kid`: tokens signed for another instance are refused).
    ///
    /// # Errors
    /// When key or certificate generation fails.
    pub fn for_tenant(tenant: &str) -> Result<SigningKey, EmuError> {
        SigningKey::with_key(RsaKey::for_tenant(tenant, "token signing")?)
    }

    fn with_key(key: RsaKey) -> Result<SigningKey, EmuError> {
        let rc = rsa_cert("huntbook emulator token signing", key)?;
        let public = cert_public_key(&rc.cert_der).map_err(EmuError::Crypto)?;
        Ok(SigningKey {
            kid: b64url(&sha1_thumbprint(&rc.cert_der)),
            key: rc.key.key,
            cert_der: rc.cert_der,
            public,
        })
    }

    /// A compact RS256 JWS over `claims`, with `kid` (and, for v1-shaped tokens, `x5t`) in the
    /// header as Entra writes it.
    ///
    /// # Errors
    /// When signing fails (it does not with a valid key).
    pub fn sign(&self, claims: &Value, with_x5t: bool) -> Result<String, EmuError> {
        let mut header = json!({"typ": "JWT", "alg": "RS256"});
        if with_x5t {
            header["x5t"] = json!(self.kid);
        }
        header["kid"] = json!(self.kid);
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|e| EmuError::Crypto(format!("signing: {e}")))?;
        Ok(format!("{input}.{}", b64url(&sig)))
    }

    /// Verify an RS256 signature made by this key.
    #[must_use]
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        verify_rsa(JwsAlg::Rs256, &self.public.pkcs1, message, sig)
    }

    /// The key as a JWK, in the JWKS shape Entra publishes.
    #[must_use]
    pub fn jwk(&self, issuer: &str) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": b64url(&self.public.n),
            "e": b64url(&self.public.e),
            "x5c": [base64::engine::general_purpose::STANDARD.encode(&self.cert_der)],
            "cloud_instance_name": "microsoftonline.com",
            "issuer": issuer,
        })
    }
}

/// The JWS algorithms the token endpoint accepts in client assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256: what MSAL has always sent (with `x5t`).
    Rs256,
    /// RSASSA-PSS with SHA-256: what current Entra docs prescribe (with `x5t#S256`).
    Ps256,
}

/// Verify an RSA signature with a PKCS#1 `RSAPublicKey`.
#[must_use]
pub fn verify_rsa(alg: JwsAlg, pkcs1: &[u8], message: &[u8], sig: &[u8]) -> bool {
    let params: &'static dyn signature::VerificationAlgorithm = match alg {
        JwsAlg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        JwsAlg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
    };
    UnparsedPublicKey::new(params, pkcs1)
        .verify(message, sig)
        .is_ok()
}

/// A certificate credential registered on an app: the certificate (public part, which the
/// token endpoint checks assertions against) and its private key (written to the work dir for
/// the client).
pub struct ClientCertificate {
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// Certificate and private key, PEM, as written to the app's file.
    pub pem: String,
    /// SHA-1 thumbprint, upper-case hex (how the portal shows it).
    pub thumbprint_hex: String,
    sha1: Vec<u8>,
    sha256: Vec<u8>,
    public_pkcs1: Vec<u8>,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint", &self.thumbprint_hex)
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// Generate an RSA key and a self-signed certificate named after the app.
    ///
    /// # Errors
    /// When key or certificate generation fails.
    pub fn generate(app_name: &str) -> Result<ClientCertificate, EmuError> {
        ClientCertificate::with_key(app_name, RsaKey::generate()?)
    }

    /// The key of app `app_name` in `tenant`, generated once per process, in a certificate of
    /// its own (its own thumbprint: another instance refuses assertions signed for this one).
    ///
    /// # Errors
    /// When key or certificate generation fails.
    pub fn for_tenant(tenant: &str, app_name: &str) -> Result<ClientCertificate, EmuError> {
        let key = RsaKey::for_tenant(tenant, &format!("app {app_name}"))?;
        ClientCertificate::with_key(app_name, key)
    }

    fn with_key(app_name: &str, key: RsaKey) -> Result<ClientCertificate, EmuError> {
        let rc = rsa_cert(app_name, key)?;
        let key_pem = pem_block("PRIVATE KEY", &rc.key.pkcs8);
        let public = cert_public_key(&rc.cert_der).map_err(EmuError::Crypto)?;
        let sha1 = sha1_thumbprint(&rc.cert_der);
        Ok(ClientCertificate {
            pem: format!("{}{key_pem}", rc.cert_pem),
            thumbprint_hex: upper_hex(&sha1),
            sha256: sha256_thumbprint(&rc.cert_der),
            sha1,
            cert_der: rc.cert_der,
            public_pkcs1: public.pkcs1,
        })
    }

    /// Whether a `x5t` (SHA-1) or `x5t#S256` thumbprint names this certificate.
    #[must_use]
    pub fn matches_thumbprint(&self, thumbprint: &[u8]) -> bool {
        thumbprint == self.sha1.as_slice() || thumbprint == self.sha256.as_slice()
    }

    /// Verify an assertion signature against the certificate's key.
    #[must_use]
    pub fn verify(&self, alg: JwsAlg, message: &[u8], sig: &[u8]) -> bool {
        verify_rsa(alg, &self.public_pkcs1, message, sig)
    }
}

/// A PEM block with 64-column lines.
pub(crate) fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Upper-case hex of bytes (thumbprints in messages).
#[must_use]
pub fn hex_upper(bytes: &[u8]) -> String {
    upper_hex(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_and_tampering_fails() {
        let key = SigningKey::generate().unwrap();
        let jwt = key.sign(&json!({"a": 1}), false).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let input = format!("{}.{}", parts[0], parts[1]);
        let sig = b64url_decode(parts[2]).unwrap();
        assert!(key.verify(input.as_bytes(), &sig));
        assert!(!key.verify(b"other", &sig));
        let header: Value = serde_json::from_slice(&b64url_decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["kid"], json!(key.kid));
        assert!(header.get("x5t").is_none());
    }

    #[test]
    fn jwk_carries_modulus_and_certificate() {
        let key = SigningKey::generate().unwrap();
        let jwk = key.jwk("https://issuer");
        assert_eq!(jwk["e"], "AQAB");
        let n = b64url_decode(jwk["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256);
        assert_eq!(jwk["x5t"], jwk["kid"]);
    }

    #[test]
    fn client_certificate_pem_holds_cert_and_key() {
        let c = ClientCertificate::generate("huntbook-cert").unwrap();
        assert!(c.pem.contains("-----BEGIN CERTIFICATE-----"));
        assert!(c.pem.contains("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(c.thumbprint_hex.len(), 40);
        assert!(c.matches_thumbprint(&sha1_thumbprint(&c.cert_der)));
        assert!(c.matches_thumbprint(&sha256_thumbprint(&c.cert_der)));
        assert!(!c.matches_thumbprint(&[0u8; 20]));
    }

    #[test]
    fn padded_and_standard_base64_thumbprints_decode() {
        assert_eq!(
            b64url_decode("hOBcHZi846VCHSJbFAs26Go9VTQ="),
            b64url_decode("hOBcHZi846VCHSJbFAs26Go9VTQ")
        );
        assert_eq!(
            b64url_decode("hOBcHZi846VCHSJbFAs26Go9VTQ").map(|b| hex_upper(&b)),
            Some("84E05C1D98BCE3A5421D225B140B36E86A3D5534".to_string())
        );
    }
}

#[cfg(test)]
mod reuse_tests {
    use super::*;

    #[test]
    fn a_tenant_s_keys_are_reused_in_certificates_of_their_own() {
        let tenant = "0b5e3a52-reuse-test-of-keys";
        let a = SigningKey::for_tenant(tenant).unwrap();
        let b = SigningKey::for_tenant(&tenant.to_ascii_uppercase()).unwrap();
        let other = SigningKey::for_tenant("another-tenant-of-keys").unwrap();
        // One RSA key per tenant in the process...
        assert_eq!(a.public.n, b.public.n);
        assert_ne!(a.public.n, other.public.n);
        // ...in a certificate per instance: the published `kid` differs.
        assert_ne!(a.kid, b.kid);
        assert_ne!(a.cert_der, b.cert_der);
        let ca = ClientCertificate::for_tenant(tenant, "huntbook-cert").unwrap();
        let cb = ClientCertificate::for_tenant(tenant, "huntbook-cert").unwrap();
        let other_app = ClientCertificate::for_tenant(tenant, "another-app").unwrap();
        assert_eq!(ca.public_pkcs1, cb.public_pkcs1);
        assert_ne!(ca.thumbprint_hex, cb.thumbprint_hex);
        assert!(!cb.matches_thumbprint(&sha1_thumbprint(&ca.cert_der)));
        // Apps and the signing key never share a key.
        assert_ne!(ca.public_pkcs1, a.public.pkcs1);
        assert_ne!(ca.public_pkcs1, other_app.public_pkcs1);
        // The PEM holds the reused key, which still signs what its certificate verifies.
        assert!(cb.pem.contains("-----BEGIN PRIVATE KEY-----"));
        let jwt = b.sign(&json!({"x": 1}), false).unwrap();
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        assert!(a.verify(input.as_bytes(), &b64url_decode(sig).unwrap()));
    }
}
