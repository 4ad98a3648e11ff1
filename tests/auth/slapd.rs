//! A real OpenLDAP server on loopback in a temporary directory (Debian's
//! slapd), with users `alice` and `bob` under `ou=people,dc=example,dc=test`
//! (password `<user>-password`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BASE_DN: &str = "ou=people,dc=example,dc=test";

pub struct Slapd {
    child: Child,
    pub url: String,
}

impl Slapd {
    pub fn start(dir: &Path) -> Slapd {
        let port = crate::common::free_port();
        std::fs::create_dir_all(dir.join("db")).unwrap();
        let conf = dir.join("slapd.conf");
        std::fs::write(
            &conf,
            format!(
                "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\ninclude /etc/ldap/schema/inetorgperson.schema\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\npidfile {d}/slapd.pid\ndatabase mdb\nmaxsize 10485760\nsuffix \"dc=example,dc=test\"\nrootdn \"cn=admin,dc=example,dc=test\"\nrootpw admin-password\ndirectory {d}/db\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let url = format!("ldap://127.0.0.1:{port}");
        let child = Command::new(crate::common::system_tool("slapd"))
            .args(["-d", "0", "-f"])
            .arg(&conf)
            .args(["-h", &format!("{url}/")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("slapd starts (hack/setup.sh --test installs slapd)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "slapd did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut ldif = String::from(
            "dn: dc=example,dc=test\nobjectClass: dcObject\nobjectClass: organization\no: example\ndc: example\n\ndn: ou=people,dc=example,dc=test\nobjectClass: organizationalUnit\nou: people\n",
        );
        for user in ["alice", "bob"] {
            ldif.push_str(&format!(
                "\ndn: uid={user},{BASE_DN}\nobjectClass: inetOrgPerson\nuid: {user}\ncn: {user}\nsn: {user}\nuserPassword: {user}-password\n"
            ));
        }
        let mut add = Command::new("ldapadd")
            .args([
                "-x",
                "-H",
                &url,
                "-D",
                "cn=admin,dc=example,dc=test",
                "-w",
                "admin-password",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        add.stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        let out = add.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "ldapadd: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Slapd { child, url }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
