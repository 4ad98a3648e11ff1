//! A real PostgreSQL server for a test: Debian's binaries, a fresh cluster
//! in a temporary directory (run as the `postgres` user when the tests run
//! as root, since PostgreSQL refuses root), listening on loopback only with
//! trust authentication, stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Postgres {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// The server's options (`pg_ctl -o`), for starting it again.
    opts: String,
}

/// Where Debian's `postgresql` package keeps `initdb` and `pg_ctl` (they are
/// not on the PATH there), or the PATH.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.sort();
    if let Some(dir) = versions
        .into_iter()
        .rev()
        .find(|d| d.join("initdb").exists())
    {
        return dir;
    }
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).find(|d| d.join("initdb").exists()))
        .expect(
            "PostgreSQL's initdb (Debian: apt-get install postgresql; hack/setup.sh --test does)",
        )
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs a PostgreSQL program as the user who may run it; panics if it fails.
fn run(bin: &Path, program: &str, args: &[&str]) {
    let out = command(bin, program, args)
        .output()
        .expect("run a PostgreSQL program");
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn command(bin: &Path, program: &str, args: &[&str]) -> Command {
    let exe = bin.join(program);
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.args(args);
    cmd
}

/// The uid and gid of the `postgres` user, from `id`.
fn postgres_ids() -> (u32, u32) {
    let id = |flag| {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("run id");
        assert!(
            out.status.success(),
            "no postgres user (Debian's postgresql package creates it)"
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a number from id")
    };
    (id("-u"), id("-g"))
}

impl Postgres {
    pub fn start() -> Postgres {
        Self::start_with(None)
    }

    /// With TLS (`ssl = on`, this certificate and key), and TLS required on
    /// TCP for every database but `postgres` (which the helpers use).
    #[allow(dead_code)] // not every test binary uses it
    pub fn start_tls(cert: &Path, key: &Path) -> Postgres {
        Self::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&Path, &Path)>) -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("a temporary directory");
        if is_root() {
            let (uid, gid) = postgres_ids();
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown");
        }
        let data = dir.path().join("data");
        let (data_s, dir_s) = (data.display().to_string(), dir.path().display().to_string());
        run(
            &bin,
            "initdb",
            &[
                "-D",
                &data_s,
                "-A",
                "trust",
                "-U",
                "livy",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        let port = crate::common::free_port();
        let mut opts = format!(
            "-p {port} -k {dir_s} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB -c max_connections=50"
        );
        if let Some((cert, key)) = tls {
            use std::os::unix::fs::PermissionsExt;
            for (from, name) in [(cert, "server.crt"), (key, "server.key")] {
                let to = data.join(name);
                std::fs::copy(from, &to).expect("copy the server's key material");
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
                if is_root() {
                    let (uid, gid) = postgres_ids();
                    std::os::unix::fs::chown(&to, Some(uid), Some(gid)).expect("chown");
                }
            }
            opts.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\n\
                 host postgres all 127.0.0.1/32 trust\n\
                 hostssl all all 127.0.0.1/32 trust\n",
            )
            .expect("write pg_hba.conf");
        }
        let log = dir.path().join("server.log").display().to_string();
        run(
            &bin,
            "pg_ctl",
            &[
                "-D", &data_s, "-o", &opts, "-l", &log, "-w", "-t", "60", "start",
            ],
        );
        Postgres {
            port,
            dir,
            bin,
            opts,
        }
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn log(&self) -> String {
        self.dir.path().join("server.log").display().to_string()
    }

    /// The URL of database `db` (see [`Postgres::create_db`]).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://livy@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates database `db`.
    pub async fn create_db(&self, db: &str) {
        let (client, conn) = tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
            .await
            .expect("connect to the test PostgreSQL");
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .await
            .expect("create a database");
    }
}

/// Outages, for the tests of losing the database (not every test binary
/// uses each).
#[allow(dead_code)]
impl Postgres {
    /// `pg_ctl stop -m fast`: every connection is closed, none accepted.
    pub fn stop(&self) {
        let data = self.data();
        run(
            &self.bin,
            "pg_ctl",
            &["-D", &data, "-m", "fast", "-w", "stop"],
        );
    }

    /// Starts it again after [`Postgres::stop`], on the same port.
    pub fn start_again(&self) {
        let (data, log) = (self.data(), self.log());
        let args = [
            "-D", &data, "-o", &self.opts, "-l", &log, "-w", "-t", "60", "start",
        ];
        run(&self.bin, "pg_ctl", &args);
    }

    /// `pg_ctl restart -m fast`.
    pub fn restart(&self) {
        let (data, log) = (self.data(), self.log());
        let args = [
            "-D", &data, "-o", &self.opts, "-l", &log, "-m", "fast", "-w", "-t", "60", "restart",
        ];
        run(&self.bin, "pg_ctl", &args);
    }

    /// The `application_name` of every connection to database `db`.
    pub async fn connections(&self, db: &str) -> Vec<String> {
        let (client, conn) = tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
            .await
            .expect("connect to the test PostgreSQL");
        tokio::spawn(conn);
        client
            .query(
                "SELECT application_name FROM pg_stat_activity WHERE datname = $1",
                &[&db],
            )
            .await
            .expect("list the connections")
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    /// Terminates every other connection to database `db`; how many.
    pub async fn terminate_backends(&self, db: &str) -> i64 {
        let (client, conn) = tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
            .await
            .expect("connect to the test PostgreSQL");
        tokio::spawn(conn);
        client
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&db],
            )
            .await
            .expect("terminate the backends")
            .get(0)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        let stop = ["-D", &data, "-m", "immediate", "-w", "stop"];
        let _ = command(&self.bin, "pg_ctl", &stop).output();
    }
}
