//! Authentication against real parts: an MIT KDC and an OpenLDAP server the
//! tests start on loopback in temporary directories, with curl, Python's
//! requests-kerberos, sparkmagic's Kerberos and Basic authenticators and
//! Airflow's LivyHook as clients, and real Spark behind the server. Every
//! rejected credential is a 401 with `WWW-Authenticate`, never a 5xx.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "auth/kdc.rs"]
mod kdc;
#[path = "auth/slapd.rs"]
mod slapd;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const START: Duration = Duration::from_secs(300);

fn script() -> String {
    format!(
        "{}/tests/fixtures/auth_clients.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Runs a client mode of tests/fixtures/auth_clients.py; its JSON report.
fn client(python: &std::path::Path, env: &[(String, String)], args: &[&str]) -> Value {
    let out = Command::new(python)
        .arg(script())
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// `curl` with extra arguments: (status, headers, body).
fn curl(env: &[(String, String)], args: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (rest, code) = text.rsplit_once('\n').unwrap();
    let (headers, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
    (
        code.trim().parse().unwrap(),
        headers.to_owned(),
        body.to_owned(),
    )
}

fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn kerberos_spnego_with_curl_requests_and_sparkmagic() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let kdc = kdc::Kdc::start(&tmp.path().join("kdc"));
    // The server's keytab in a directory sessions may read (the whitelist):
    // the sandbox must still hide it from their code.
    let shared = tmp.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let keytab = shared.join("http.keytab");
    std::fs::copy(&kdc.keytab, &keytab).unwrap();
    let port = free_port();
    let server = Server::start_with(
        port,
        &tmp.path().join("data"),
        &[
            "livy.server.auth.type=kerberos".into(),
            format!(
                "livy.server.auth.kerberos.principal=HTTP/localhost@{}",
                kdc::REALM
            ),
            format!("livy.server.auth.kerberos.keytab={}", keytab.display()),
            format!("livy.file.local-dir-whitelist={}", shared.display()),
            "livy.rsc.launcher.port.range=0~0".into(),
        ],
        &[("KRB5_CONFIG", kdc.krb5_conf.to_str().unwrap())],
    );
    // The host must be `localhost`: clients ask for a ticket to HTTP/<host>.
    let base = format!("http://localhost:{port}");
    let alice = kdc.client_env(&kdc.kinit("alice"));

    // No credentials: a challenge.
    let (code, headers, body) = curl(&[], &[&format!("{base}/sessions")]);
    assert_eq!(code, 401, "{body}");
    assert_eq!(header(&headers, "WWW-Authenticate"), Some("Negotiate"));
    assert!(serde_json::from_str::<Value>(&body).unwrap()["msg"].is_string());
    // A malformed Negotiate token and a foreign scheme: 401, not 5xx.
    for authz in [
        "Negotiate !!!notbase64",
        "Negotiate AAAA",
        "Basic YWxpY2U6eA==",
        "Bearer x",
        "Negotiate",
    ] {
        let (code, headers, _) = curl(
            &[],
            &[
                "-H",
                &format!("Authorization: {authz}"),
                &format!("{base}/sessions"),
            ],
        );
        assert_eq!(code, 401, "{authz}");
        assert_eq!(
            header(&headers, "WWW-Authenticate"),
            Some("Negotiate"),
            "{authz}"
        );
    }

    // curl --negotiate as alice: 201, owner alice, a cookie and the server's SPNEGO reply.
    let (code, headers, body) = curl(
        &alice,
        &[
            "--negotiate",
            "-u",
            ":",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"file":"hdfs:///apps/pi.py"}"#,
            &format!("{base}/batches"),
        ],
    );
    assert_eq!(code, 201, "{headers}{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["owner"],
        "alice"
    );
    assert!(
        header(&headers, "Set-Cookie")
            .unwrap()
            .starts_with("hadoop.auth="),
        "{headers}"
    );
    assert!(
        header(&headers, "WWW-Authenticate")
            .unwrap()
            .starts_with("Negotiate "),
        "{headers}"
    );

    // requests-kerberos with mutual authentication required, then the cookie alone.
    let py = client_python();
    let r = client(&py, &alice, &["requests-kerberos", &base]);
    assert_eq!(r["first"], json!({"status": 200, "cookie": true}), "{r}");
    assert_eq!(
        r["cookie_only"],
        json!({"status": 201, "owner": "alice"}),
        "{r}"
    );

    // A valid ticket for another service: 401.
    let r = client(&py, &alice, &["other-service", &base]);
    assert_eq!(r["status"], 401, "{r}");
    assert_eq!(r["www"], "Negotiate");

    // sparkmagic's Kerberos authenticator drives a real pyspark session,
    // whose code cannot read the server's keytab.
    let r = client(
        &py,
        &alice,
        &["sparkmagic-kerberos", &base, keytab.to_str().unwrap()],
    );
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["out"], "2");
    assert_eq!(r["owner"], "alice");
    let hidden = r["hidden"].as_str().unwrap();
    assert!(
        hidden.starts_with("ERR ") || hidden == "READ 0",
        "the session read the keytab: {r}"
    );
    assert!(std::fs::metadata(&keytab).unwrap().len() > 0);
    assert!(!server.log().contains("panicked"));
}

#[tokio::test]
async fn ldap_basic_with_curl_sparkmagic_and_airflow_and_cookie_rules() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let ldap = slapd::Slapd::start(&tmp.path().join("ldap"));
    let apps = tmp.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::write(apps.join("pi.py"), PI_PY).unwrap();
    let secret = tmp.path().join("cookie-secret");
    std::fs::write(
        &secret,
        "a shared secret of at least 32 bytes, for the test",
    )
    .unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            "livy.server.auth.type=ldap".into(),
            format!("livy.server.auth.ldap.url={}", ldap.url),
            format!("livy.server.auth.ldap.base-dn={}", slapd::BASE_DN),
            format!("livy.server.auth.cookie.secret-file={}", secret.display()),
            format!("livy.file.local-dir-whitelist={}", apps.display()),
            "livy.rsc.launcher.port.range=0~0".into(),
        ],
    );
    let url = server.url("/sessions");

    // Wrong password, unknown user, empty password, no header, malformed header: 401 + Basic.
    for args in [
        vec!["-u", "alice:wrong"],
        vec!["-u", "mallory:alice-password"],
        vec!["-u", "alice:"],
        vec![],
        vec!["-H", "Authorization: Basic !!!"],
        vec!["-H", "Authorization: Basic"],
    ] {
        let mut a: Vec<&str> = args.clone();
        a.push(&url);
        let (code, headers, body) = curl(&[], &a);
        assert_eq!(code, 401, "{args:?}: {body}");
        assert!(
            header(&headers, "WWW-Authenticate")
                .unwrap()
                .starts_with("Basic"),
            "{args:?}"
        );
        assert!(
            serde_json::from_str::<Value>(&body).unwrap()["msg"].is_string(),
            "{args:?}"
        );
    }
    // The right password: 200 and a cookie; the cookie alone then works.
    let (code, headers, _) = curl(&[], &["-u", "alice:alice-password", &url]);
    assert_eq!(code, 200);
    let cookie = header(&headers, "Set-Cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (code, _, _) = curl(&[], &["-H", &format!("Cookie: {cookie}"), &url]);
    assert_eq!(code, 200, "the cookie alone authenticates");

    // Forged and expired cookies: 401, and the client is told to drop the cookie.
    let forged = cookie.replace("u=alice", "u=admin");
    let signer =
        livy_server::auth::cookie::Signer::new(&std::fs::read(&secret).unwrap(), "ldap", 60_000);
    let now = livy_server::records::now_ms();
    let expired = format!("hadoop.auth={}", signer.issue("alice", now - 120_000));
    let valid_but_other_type = format!(
        "hadoop.auth={}",
        livy_server::auth::cookie::Signer::new(
            &std::fs::read(&secret).unwrap(),
            "kerberos",
            60_000
        )
        .issue("alice", now)
    );
    for c in [
        forged,
        expired,
        valid_but_other_type,
        "hadoop.auth=garbage".into(),
    ] {
        let (code, headers, body) = curl(&[], &["-H", &format!("Cookie: {c}"), &url]);
        assert_eq!(code, 401, "{c}: {body}");
        assert!(header(&headers, "WWW-Authenticate").is_some());
        assert!(
            header(&headers, "Set-Cookie")
                .unwrap()
                .contains("Max-Age=0"),
            "{c}"
        );
    }

    // sparkmagic's Basic authenticator.
    let py = client_python();
    let r = client(
        &py,
        &[],
        &["sparkmagic-basic", &server.base, "bob", "bob-password"],
    );
    assert_eq!(r["total"], 0, "{r}");
    assert_eq!(r["missing"], "HttpClientException", "{r}");

    // Airflow's LivyHook with a login and password runs a real batch.
    let airflow = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-airflow/bin/python");
    let file = apps.join("pi.py").display().to_string();
    let r = client(
        &airflow,
        &[],
        &["airflow", &server.base, "alice", "alice-password", &file],
    );
    assert_eq!(r["state"], "success", "{r}");
    let log = r["log"].to_string();
    assert!(log.contains("Pi is roughly"), "{log}");
    let (_, b) = {
        let r = client_with_basic("alice", "alice-password")
            .get(server.url(&format!("/batches/{}", r["batch"])))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(b["owner"], "alice");
    let _ = START;
}

fn client_with_basic(user: &str, password: &str) -> reqwest::Client {
    use base64::Engine;
    use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
    let mut h = HeaderMap::new();
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    h.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Basic {token}")).unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(h)
        .build()
        .unwrap()
}

/// The directory matches user names without regard to case, so `ALICE`
/// binds as alice: the owner and proxy user must still be `alice`, the
/// directory's own spelling, or access rules would see two users.
#[tokio::test]
async fn ldap_user_names_become_the_directory_s_canonical_name() {
    let tmp = tempfile::tempdir().unwrap();
    let ldap = slapd::Slapd::start(&tmp.path().join("ldap"));
    let home = fake_spark_home(tmp.path());
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            format!("livy.server.spark-home={}", home.display()),
            "livy.server.auth.type=ldap".into(),
            format!("livy.server.auth.ldap.url={}", ldap.url),
            format!("livy.server.auth.ldap.base-dn={}", slapd::BASE_DN),
            "livy.impersonation.enabled=true".into(),
            "livy.server.access-control.enabled=true".into(),
            "livy.server.access-control.allowed-users=alice".into(),
        ],
    );
    let r = client_with_basic("ALICE", "alice-password")
        .post(server.url("/batches"))
        .json(&json!({"file": "hdfs:///apps/pi.py"}))
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["owner"], "alice", "{body}");
    assert_eq!(body["proxyUser"], "alice", "{body}");
    // The same credentials again (from the password cache) name alice too.
    let r = client_with_basic("ALICE", "alice-password")
        .get(server.url(&format!("/batches/{}", body["id"])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // A wrong password is still refused.
    let r = client_with_basic("ALICE", "wrong")
        .get(server.url("/batches"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}
