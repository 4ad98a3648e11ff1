//! A real MIT Kerberos KDC on loopback in a temporary directory, with its own
//! realm, principals and keytab (Debian's krb5-kdc and krb5-admin-server).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REALM: &str = "EXAMPLE.TEST";

pub struct Kdc {
    child: Child,
    pub dir: PathBuf,
    /// `KRB5_CONFIG` for clients and the server.
    pub krb5_conf: PathBuf,
    /// Holds `HTTP/localhost@EXAMPLE.TEST` only.
    pub keytab: PathBuf,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("a Kerberos tool runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Kdc {
    /// Users `alice` and `bob` (password `<user>-password`), the service
    /// principals `HTTP/localhost` (in the keytab) and `HTTP/otherhost` (not).
    pub fn start(dir: &Path) -> Kdc {
        let port = crate::common::free_port();
        std::fs::create_dir_all(dir).unwrap();
        let krb5_conf = dir.join("krb5.conf");
        std::fs::write(
            &krb5_conf,
            format!(
                "[libdefaults]\n default_realm = {REALM}\n dns_lookup_kdc = false\n dns_lookup_realm = false\n rdns = false\n udp_preference_limit = 1\n ticket_lifetime = 1h\n\n[realms]\n {REALM} = {{\n  kdc = 127.0.0.1:{port}\n }}\n"
            ),
        )
        .unwrap();
        let kdc_conf = dir.join("kdc.conf");
        std::fs::write(
            &kdc_conf,
            format!(
                "[kdcdefaults]\n kdc_ports = {port}\n kdc_tcp_ports = {port}\n\n[realms]\n {REALM} = {{\n  database_name = {d}/principal\n  key_stash_file = {d}/stash\n  acl_file = {d}/kadm5.acl\n  max_life = 1h\n }}\n\n[logging]\n kdc = FILE:{d}/kdc.log\n",
                d = dir.display()
            ),
        )
        .unwrap();
        std::fs::write(dir.join("kadm5.acl"), "").unwrap();
        let env = |c: &mut Command| {
            c.env("KRB5_CONFIG", &krb5_conf)
                .env("KRB5_KDC_PROFILE", &kdc_conf);
        };
        let mut c = Command::new(crate::common::system_tool("kdb5_util"));
        env(&mut c);
        run(c.args(["create", "-s", "-r", REALM, "-P", "master-password"]));
        for q in [
            "addprinc -pw alice-password alice".to_owned(),
            "addprinc -pw bob-password bob".to_owned(),
            "addprinc -randkey HTTP/localhost".to_owned(),
            "addprinc -randkey HTTP/otherhost".to_owned(),
            format!("ktadd -k {}/http.keytab HTTP/localhost", dir.display()),
        ] {
            let mut c = Command::new(crate::common::system_tool("kadmin.local"));
            env(&mut c);
            run(c.args(["-q", &q]));
        }
        let mut c = Command::new(crate::common::system_tool("krb5kdc"));
        env(&mut c);
        let child = c
            .args(["-n", "-P"])
            .arg(dir.join("kdc.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("krb5kdc starts (hack/setup.sh --test installs krb5-kdc)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the KDC did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Kdc {
            child,
            dir: dir.to_owned(),
            keytab: dir.join("http.keytab"),
            krb5_conf,
        }
    }

    /// `kinit` as `user` into a fresh credential cache; returns its path.
    pub fn kinit(&self, user: &str) -> PathBuf {
        let cache = self.dir.join(format!("{user}.ccache"));
        let mut child = Command::new("kinit")
            .env("KRB5_CONFIG", &self.krb5_conf)
            .env("KRB5CCNAME", format!("FILE:{}", cache.display()))
            .arg(user)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{user}-password").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kinit {user}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cache
    }

    /// The environment a Kerberos client of `user` needs.
    pub fn client_env(&self, cache: &Path) -> Vec<(String, String)> {
        vec![
            ("KRB5_CONFIG".into(), self.krb5_conf.display().to_string()),
            ("KRB5CCNAME".into(), format!("FILE:{}", cache.display())),
        ]
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
