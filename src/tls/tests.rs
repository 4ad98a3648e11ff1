//! Key material made by the `openssl` command line, in every form we accept
//! and a few we must refuse.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl command line");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed certificate for `key.pem` in `dir`; returns its path.
fn self_signed(dir: &Path, key: &str, name: &str) -> PathBuf {
    let cert = format!("{name}.crt");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-key",
            key,
            "-out",
            &cert,
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ],
    );
    dir.join(cert)
}

fn pem(cert: &Path, key: &Path) -> TlsSource {
    TlsSource::Pem {
        cert: cert.to_owned(),
        key: key.to_owned(),
    }
}

fn keystore(path: &Path, password: &str) -> TlsSource {
    TlsSource::Keystore {
        path: path.to_owned(),
        password: Password::new(password),
        declared_type: "JKS".into(),
    }
}

#[test]
fn pem_keys_in_pkcs8_pkcs1_and_sec1_form() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "pkcs8.pem",
        ],
    );
    openssl(
        d,
        &[
            "rsa",
            "-in",
            "pkcs8.pem",
            "-traditional",
            "-out",
            "pkcs1.pem",
        ],
    );
    openssl(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "sec1.pem",
        ],
    );
    for (key, marker) in [
        ("pkcs8.pem", "BEGIN PRIVATE KEY"),
        ("pkcs1.pem", "BEGIN RSA PRIVATE KEY"),
        ("sec1.pem", "BEGIN EC PRIVATE KEY"),
    ] {
        let text = std::fs::read_to_string(d.join(key)).unwrap();
        assert!(text.contains(marker), "{key} is not in the form under test");
        let cert = self_signed(d, key, key);
        let config = load_blocking(&pem(&cert, &d.join(key)))
            .unwrap_or_else(|e| panic!("{key}: {}", crate::error_chain(&e)));
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
    }
    // A key that is not the certificate's.
    let cert = self_signed(d, "pkcs8.pem", "other");
    let err = load_blocking(&pem(&cert, &d.join("sec1.pem"))).unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::KeyPair {
                key: keys::TLS_KEY_FILE,
                ..
            }
        ),
        "{err}"
    );
    // Not PEM at all, and a missing file.
    std::fs::write(d.join("empty.pem"), "no certificate here\n").unwrap();
    let err = load_blocking(&pem(&d.join("empty.pem"), &d.join("pkcs8.pem"))).unwrap_err();
    assert!(err.to_string().starts_with(keys::TLS_CERT_FILE), "{err}");
    let err = load_blocking(&pem(&cert, &d.join("missing.pem"))).unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::Read {
                key: keys::TLS_KEY_FILE,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn pkcs12_from_openssl_3_and_its_legacy_algorithms() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "key.pem",
        ],
    );
    self_signed(d, "key.pem", "cert");
    // OpenSSL 3's default: PBES2 with AES-256-CBC, HMAC-SHA256 MAC.
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-in",
            "cert.crt",
            "-inkey",
            "key.pem",
            "-name",
            "livy",
            "-passout",
            "pass:changeit",
            "-out",
            "aes.p12",
        ],
    );
    // What older tools wrote (and Java 8 still does).
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-in",
            "cert.crt",
            "-inkey",
            "key.pem",
            "-certpbe",
            "PBE-SHA1-3DES",
            "-keypbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
            "-passout",
            "pass:changeit",
            "-out",
            "3des.p12",
        ],
    );
    for file in ["aes.p12", "3des.p12"] {
        load_blocking(&keystore(&d.join(file), "changeit"))
            .unwrap_or_else(|e| panic!("{file}: {}", crate::error_chain(&e)));
    }
    let err = load_blocking(&keystore(&d.join("aes.p12"), "wrong")).unwrap_err();
    assert!(matches!(err, TlsError::WrongPassword { .. }), "{err}");
    assert!(err.to_string().contains(keys::KEYSTORE_PASSWORD), "{err}");
    assert!(
        !err.to_string().contains("wrong"),
        "the password is never echoed: {err}"
    );
    // A certificate without its key is no server identity.
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-in",
            "cert.crt",
            "-nokeys",
            "-passout",
            "pass:changeit",
            "-out",
            "nokey.p12",
        ],
    );
    let err = load_blocking(&keystore(&d.join("nokey.p12"), "changeit")).unwrap_err();
    assert!(matches!(err, TlsError::NoKeyEntry { .. }), "{err}");
}

#[test]
fn java_keystores_are_refused_with_the_command_that_converts_them() {
    let dir = tempfile::tempdir().unwrap();
    for (magic, format) in [([0xFE, 0xED, 0xFE, 0xED], "JKS"), ([0xCE; 4], "JCEKS")] {
        let path = dir.path().join("livy.jks");
        let mut bytes = magic.to_vec();
        bytes.extend([0, 0, 0, 2, 0, 0, 0, 1]);
        std::fs::write(&path, bytes).unwrap();
        let err = load_blocking(&keystore(&path, "changeit"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(keys::KEYSTORE), "{err}");
        assert!(err.contains(&format!("is a {format} keystore")), "{err}");
        assert!(
            err.contains("keytool -importkeystore") && err.contains("-deststoretype PKCS12"),
            "{err}"
        );
        assert!(err.contains("livy.p12"), "suggests a destination: {err}");
    }
}
