//! HTTPS for the REST API: the configured certificate and key (a PKCS#12
//! keystore, or a PEM chain and key) read into a rustls server
//! configuration once, at start-up.
//!
//! Every failure names the configuration key to fix, and there is no
//! fallback: a server asked for TLS that cannot have it does not start.
//! Java keystores (JKS, JCEKS) are recognised by their magic number and
//! refused with the `keytool` command that converts them.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::config::keys;
use crate::config::tls::{Password, TlsSource};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key} = {path}: failed to read the file")]
    Read {
        key: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{key} = {path} is a {format} keystore, which this server cannot read; convert it to \
         PKCS#12 with `keytool -importkeystore -srckeystore {path} -destkeystore {suggested} \
         -deststoretype PKCS12` and set {key} = {suggested}"
    )]
    JavaKeystore {
        key: &'static str,
        path: String,
        format: &'static str,
        suggested: String,
    },
    #[error(
        "{key} = {path}: {password_key} does not open the keystore (its integrity check failed)"
    )]
    WrongPassword {
        key: &'static str,
        password_key: &'static str,
        path: String,
    },
    #[error("{key} = {path}: not a readable PKCS#12 keystore (or a wrong {password_key})")]
    Pkcs12 {
        key: &'static str,
        password_key: &'static str,
        path: String,
        #[source]
        source: p12_keystore::error::Error,
    },
    #[error("{key} = {path}: the keystore holds no private key with its certificate chain")]
    NoKeyEntry { key: &'static str, path: String },
    #[error("{key} = {path}: not a PEM certificate chain")]
    PemCertificates {
        key: &'static str,
        path: String,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{key} = {path}: no certificate in the file")]
    NoCertificate { key: &'static str, path: String },
    #[error(
        "{key} = {path}: no unencrypted PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC) in the file"
    )]
    PemKey {
        key: &'static str,
        path: String,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{key}: the private key does not match the certificate, or is of an unsupported type")]
    KeyPair {
        key: &'static str,
        #[source]
        source: rustls::Error,
    },
    #[error("failed to load the TLS keys (the loading task failed)")]
    Task(#[source] tokio::task::JoinError),
}

/// Reads `source` into a server configuration (blocking file reads and key
/// derivation, so off the async workers).
pub async fn load(source: TlsSource) -> Result<Arc<ServerConfig>, TlsError> {
    tokio::task::spawn_blocking(move || load_blocking(&source))
        .await
        .map_err(TlsError::Task)?
}

/// What [`load`] does, synchronously.
pub fn load_blocking(source: &TlsSource) -> Result<Arc<ServerConfig>, TlsError> {
    let (certs, key, key_setting) = match source {
        TlsSource::Keystore {
            path,
            password,
            declared_type,
        } => {
            let (certs, key) = from_keystore(path, password, declared_type)?;
            (certs, key, keys::KEYSTORE)
        }
        TlsSource::Pem { cert, key } => {
            let (certs, key) = from_pem(cert, key)?;
            (certs, key, keys::TLS_KEY_FILE)
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|source| TlsError::KeyPair {
            key: key_setting,
            source,
        })?;
    // HTTP/1.1 only: see `crate::server` (its listener).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificate chain `source` holds (leaf first): the servers sharing a
/// store trust it when they forward calls to each other over HTTPS, so a
/// chain that includes its CA needs no system-wide trust.
pub fn chain_certs(source: &TlsSource) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let (certs, _) = match source {
        TlsSource::Keystore {
            path,
            password,
            declared_type,
        } => from_keystore(path, password, declared_type)?,
        TlsSource::Pem { cert, key } => from_pem(cert, key)?,
    };
    Ok(certs)
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.display().to_string(),
        source,
    })
}

/// The Java keystore format a file is in, by its magic number.
fn java_keystore_format(bytes: &[u8]) -> Option<&'static str> {
    match bytes.get(..4)? {
        [0xFE, 0xED, 0xFE, 0xED] => Some("JKS"),
        [0xCE, 0xCE, 0xCE, 0xCE] => Some("JCEKS"),
        _ => None,
    }
}

type KeyPair = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn from_keystore(path: &Path, password: &Password, declared: &str) -> Result<KeyPair, TlsError> {
    let key = keys::KEYSTORE;
    let shown = path.display().to_string();
    let bytes = read(key, path)?;
    if let Some(format) = java_keystore_format(&bytes) {
        return Err(TlsError::JavaKeystore {
            key,
            suggested: path.with_extension("p12").display().to_string(),
            path: shown,
            format,
        });
    }
    if !declared.eq_ignore_ascii_case("pkcs12") && !declared.eq_ignore_ascii_case("p12") {
        tracing::info!(keystore = %shown, declared_type = %declared, "the keystore is not a Java keystore; reading it as PKCS#12");
    }
    let password_key = keys::KEYSTORE_PASSWORD;
    let store = p12_keystore::KeyStore::from_pkcs12(
        &bytes,
        password.expose(),
        p12_keystore::Pkcs12ImportPolicy::Strict,
    )
    .map_err(|source| match source {
        p12_keystore::error::Error::MacError(_) => TlsError::WrongPassword {
            key,
            password_key,
            path: shown.clone(),
        },
        source => TlsError::Pkcs12 {
            key,
            password_key,
            path: shown.clone(),
            source,
        },
    })?;
    let (alias, chain) = store
        .private_key_chain()
        .ok_or_else(|| TlsError::NoKeyEntry {
            key,
            path: shown.clone(),
        })?;
    if store
        .entries()
        .filter(|(_, e)| matches!(e, p12_keystore::KeyStoreEntry::PrivateKeyChain(_)))
        .count()
        > 1
    {
        tracing::warn!(keystore = %shown, alias, "the keystore holds several keys; serving this one");
    }
    let certs = chain
        .certs()
        .iter()
        .map(|c| CertificateDer::from(c.as_der().to_vec()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
    Ok((certs, key))
}

fn from_pem(cert: &Path, key: &Path) -> Result<KeyPair, TlsError> {
    let cert_bytes = read(keys::TLS_CERT_FILE, cert)?;
    let certs = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::PemCertificates {
            key: keys::TLS_CERT_FILE,
            path: cert.display().to_string(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            key: keys::TLS_CERT_FILE,
            path: cert.display().to_string(),
        });
    }
    let key_bytes = read(keys::TLS_KEY_FILE, key)?;
    let private = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|source| TlsError::PemKey {
        key: keys::TLS_KEY_FILE,
        path: key.display().to_string(),
        source,
    })?;
    Ok((certs, private))
}

#[cfg(test)]
mod tests;
