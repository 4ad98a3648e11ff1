//! Test key material made with the real `openssl` (and `keytool` for a JKS),
//! shared by the TLS and listener tests.

#![allow(dead_code)] // each test binary uses a part

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `livy.server.spark-home=<a stand-in under dir>`: no application is
/// launched and no session driver is compiled, so SIGTERM is never held up
/// by a build.
pub fn stand_in_spark_home(dir: &Path) -> String {
    let home = dir.join("spark");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    std::fs::write(home.join("bin/spark-submit"), "").unwrap();
    format!("livy.server.spark-home={}", home.display())
}

fn run(dir: &Path, program: &str, args: &[&str]) {
    let out = Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA, a `localhost`/127.0.0.1 server certificate it signed (RSA
/// key, PKCS#8 PEM), the chain, and the same as PKCS#12 and as JKS.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        run(
            d,
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=livy-test-ca",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
        );
        run(
            d,
            "openssl",
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=localhost",
            ],
        );
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(
            d,
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "leaf.pem",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );
        let chain = [
            std::fs::read_to_string(d.join("leaf.pem")).unwrap(),
            std::fs::read_to_string(d.join("ca.pem")).unwrap(),
        ]
        .concat();
        std::fs::write(d.join("chain.pem"), chain).unwrap();
        // OpenSSL 3's defaults: PBES2/AES-256 bags, HMAC-SHA256 MAC.
        run(
            d,
            "openssl",
            &[
                "pkcs12",
                "-export",
                "-in",
                "leaf.pem",
                "-inkey",
                "key.pem",
                "-certfile",
                "ca.pem",
                "-name",
                "livy",
                "-passout",
                "pass:changeit",
                "-out",
                "server.p12",
            ],
        );
        run(
            d,
            "keytool",
            &[
                "-importkeystore",
                "-srckeystore",
                "server.p12",
                "-srcstoretype",
                "PKCS12",
                "-srcstorepass",
                "changeit",
                "-destkeystore",
                "server.jks",
                "-deststoretype",
                "JKS",
                "-deststorepass",
                "changeit",
                "-noprompt",
            ],
        );
        Pki { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A stand-in Spark home in the PKI's directory.
    pub fn spark_home(&self) -> String {
        stand_in_spark_home(self.dir.path())
    }

    pub fn conf(&self, key: &str, file: &str) -> String {
        format!("{key}={}", self.path(file).display())
    }

    /// A client that trusts the test CA and nothing else.
    pub fn client(&self) -> reqwest::Client {
        let ca =
            reqwest::Certificate::from_pem(&std::fs::read(self.path("ca.pem")).unwrap()).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(ca)
            .tls_built_in_root_certs(false)
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap()
    }
}
