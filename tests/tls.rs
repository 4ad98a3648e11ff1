//! HTTPS for the REST API through the real binary, with key material made
//! here by `openssl` (and `keytool` for a real JKS): a PEM chain + key and a
//! PKCS#12 keystore each serve `GET /version` to a client that trusts only
//! the test CA, plain http to the same port gets nothing, SIGTERM still stops
//! the server cleanly; and every start-up that cannot have TLS fails, naming
//! the key to fix, without ever listening.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, free_port};
use pki::Pki;

/// `/version` answers over https, and only over https.
async fn serves_https_only(pki: &Pki, port: u16) {
    let resp = pki
        .client()
        .get(format!("https://127.0.0.1:{port}/version"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("https request failed: {e:?}"));
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["version"], "0.8.0-incubating", "{body}");
    let by_name = pki
        .client()
        .get(format!("https://localhost:{port}/version"))
        .send()
        .await;
    assert!(
        by_name.is_ok(),
        "the certificate names localhost: {by_name:?}"
    );
    // curl, where installed, trusting only the test CA.
    if let Ok(out) = Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--cacert"])
        .arg(pki.path("ca.pem"))
        .arg(format!("https://127.0.0.1:{port}/version"))
        .output()
    {
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && body.contains("0.8.0-incubating"),
            "curl --cacert: {body} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let plain = common::client()
        .get(format!("http://127.0.0.1:{port}/version"))
        .send()
        .await;
    assert!(
        plain.as_ref().map_or(true, |r| !r.status().is_success()),
        "plain http was served on the TLS port: {plain:?}"
    );
    // A client that does not trust our CA gets no answer either.
    let untrusting = common::client()
        .get(format!("https://127.0.0.1:{port}/version"))
        .send()
        .await;
    assert!(untrusting.is_err(), "{untrusting:?}");
}

/// SIGTERM: the server stops on its own, successfully, within the grace.
fn stops_cleanly_on_sigterm(mut server: Server) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    kill(Pid::from_raw(server.child.id() as i32), Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "{status}; log:\n{}", server.log());
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no exit after SIGTERM:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn a_pem_chain_and_key_serve_https_only() {
    let pki = Pki::new();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = [
        pki.spark_home(),
        pki.conf("livy.server.tls.cert-file", "chain.pem"),
        pki.conf("livy.server.tls.key-file", "key.pem"),
    ];
    let server = Server::start_on(port, data.path(), &conf);
    serves_https_only(&pki, port).await;
    let log = server.log();
    assert!(log.contains("scheme") && log.contains("\"https\""), "{log}");
    stops_cleanly_on_sigterm(server);
}

#[tokio::test]
async fn a_pkcs12_keystore_serves_https_only() {
    let pki = Pki::new();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    // Livy's default keystore type (JKS) with a PKCS#12 file: the content
    // decides. The password comes from the environment, out of `ps`.
    let conf = [pki.spark_home(), pki.conf("livy.keystore", "server.p12")];
    let server = Server::start_with(
        port,
        data.path(),
        &conf,
        &[("LIVY_KEYSTORE_PASSWORD", "changeit")],
    );
    serves_https_only(&pki, port).await;
    assert!(!server.log().contains("changeit"), "{}", server.log());
    stops_cleanly_on_sigterm(server);
}

/// Runs the server expecting it to refuse to start: non-zero exit, and
/// never a listening port. Returns its stderr.
fn refused_start(conf: &[String], env: &[(&str, &str)]) -> String {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_livy-server"));
    cmd.arg("--port")
        .arg(port.to_string())
        .arg("--data-dir")
        .arg(data.path())
        .args(["--conf", "livy.server.host=127.0.0.1"]);
    for c in conf {
        cmd.arg("--conf").arg(c);
    }
    let mut child = cmd
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() || Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the server started although TLS could not be set up ({conf:?}):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!status.success(), "{conf:?} exited successfully:\n{stderr}");
    stderr
}

#[test]
fn start_up_fails_closed_and_names_the_key_to_fix() {
    let pki = Pki::new();
    let p12 = pki.conf("livy.keystore", "server.p12");
    // (conf, environment, texts the refusal must contain)
    type Case<'a> = (Vec<String>, Vec<(&'a str, &'a str)>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            vec![
                p12.clone(),
                "livy.keystore.password=not-the-password".into(),
            ],
            vec![],
            vec!["livy.keystore.password does not open the keystore"],
        ),
        (
            vec![p12.clone()],
            vec![],
            vec!["livy.keystore.password does not open the keystore"],
        ),
        (
            vec![pki.conf("livy.keystore", "missing.p12")],
            vec![("LIVY_KEYSTORE_PASSWORD", "changeit")],
            vec!["livy.keystore = ", "missing.p12: failed to read the file"],
        ),
        (
            vec![pki.conf("livy.keystore", "server.jks")],
            vec![("LIVY_KEYSTORE_PASSWORD", "changeit")],
            vec![
                "is a JKS keystore",
                "keytool -importkeystore -srckeystore",
                "-deststoretype PKCS12",
            ],
        ),
        (
            vec![pki.conf("livy.server.tls.cert-file", "chain.pem")],
            vec![],
            vec![
                "livy.server.tls.key-file",
                "required with livy.server.tls.cert-file",
            ],
        ),
        (
            vec![
                pki.conf("livy.server.tls.cert-file", "chain.pem"),
                pki.conf("livy.server.tls.key-file", "missing-key.pem"),
            ],
            vec![],
            vec!["livy.server.tls.key-file = ", "failed to read the file"],
        ),
        (
            // A key that is not the certificate's.
            vec![
                pki.conf("livy.server.tls.cert-file", "chain.pem"),
                pki.conf("livy.server.tls.key-file", "ca.key"),
            ],
            vec![],
            vec!["livy.server.tls.key-file: the private key does not match the certificate"],
        ),
    ];
    for (mut conf, env, want) in cases {
        conf.push(pki.spark_home());
        let stderr = refused_start(&conf, &env);
        for text in want {
            assert!(stderr.contains(text), "{conf:?}: no {text:?} in:\n{stderr}");
        }
        assert!(
            !stderr.contains("not-the-password") && !stderr.contains("changeit"),
            "{stderr}"
        );
    }
}
