//! The built-in option for deployments with neither Kerberos nor LDAP: HTTP
//! Basic against a file of salted password hashes (`user:$argon2id$…`, one
//! per line, `#` comments; `livy-server hash-password` prints a hash).
//! Argon2 is slow on purpose; the auth cookie spares clients a check per
//! request. The file is read again when it changes ([`UsersFile`]), so a
//! user removed from it loses access at the next request.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

#[derive(Debug, thiserror::Error)]
pub enum UsersFileError {
    #[error("failed to read the users file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}:{line}: expected `user:<argon2 hash>` (make one with `livy-server hash-password`)"
    )]
    Line { path: String, line: usize },
}

/// Users and their password hashes (PHC strings).
pub struct BasicUsers {
    hashes: HashMap<String, String>,
    /// Checked for unknown users, so timing does not tell who exists.
    decoy: String,
}

impl BasicUsers {
    pub fn load(path: &Path) -> Result<Self, UsersFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| UsersFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|line| UsersFileError::Line {
            path: path.display().to_string(),
            line,
        })
    }

    /// Parses the file; a bad line's number on error.
    fn parse(text: &str) -> Result<Self, usize> {
        let mut hashes = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line.split_once(':').ok_or(i + 1)?;
            if user.is_empty() || PasswordHash::new(hash).is_err() {
                return Err(i + 1);
            }
            hashes.insert(user.to_owned(), hash.to_owned());
        }
        let decoy = hashes.values().next().cloned().unwrap_or_default();
        Ok(Self { hashes, decoy })
    }

    /// Whether `user` is in the file.
    pub fn contains(&self, user: &str) -> bool {
        self.hashes.contains_key(user)
    }

    /// Whether `password` is `user`'s. CPU-heavy: call off the async threads.
    pub fn check(&self, user: &str, password: &str) -> bool {
        let (hash, known) = match self.hashes.get(user) {
            Some(h) => (h, true),
            None => (&self.decoy, false),
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok();
        ok && known
    }
}

/// The users file as it is now: read again whenever its size, inode or
/// modification time changes (one `stat` per request). A file that has
/// become unreadable or malformed admits nobody until it is fixed (fail
/// closed: a half-edited file must not keep a removed user in).
pub struct UsersFile {
    path: PathBuf,
    loaded: Mutex<(Option<Stamp>, Arc<BasicUsers>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<std::time::SystemTime>,
    len: u64,
    inode: u64,
    ctime: i64,
    ctime_nsec: i64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: m.modified().ok(),
        len: m.len(),
        inode: m.ino(),
        ctime: m.ctime(),
        ctime_nsec: m.ctime_nsec(),
    })
}

impl UsersFile {
    /// Reads the file once; an error here stops start-up.
    pub fn load(path: &Path) -> Result<Self, UsersFileError> {
        let before = stamp(path);
        let users = BasicUsers::load(path)?;
        Ok(Self {
            path: path.to_owned(),
            loaded: Mutex::new((before, Arc::new(users))),
        })
    }

    /// The users as the file says now.
    pub fn current(&self) -> Arc<BasicUsers> {
        let now = stamp(&self.path);
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if loaded.0 != now || now.is_none() {
            let users = match BasicUsers::load(&self.path) {
                Ok(users) => users,
                Err(e) => {
                    if loaded.0 != now {
                        tracing::error!(error = %e, "the users file cannot be used; nobody is admitted until it is fixed");
                    }
                    BasicUsers {
                        hashes: HashMap::new(),
                        decoy: loaded.1.decoy.clone(),
                    }
                }
            };
            *loaded = (now, Arc::new(users));
        }
        loaded.1.clone()
    }
}

/// A PHC string for `password` with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    Ok(Argon2::default()
        .hash_password(password.as_bytes())?
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_passwords_against_the_file() {
        let alice = hash_password("wonderland").unwrap();
        let text = format!("# users\n\nalice:{alice}\n");
        let users = BasicUsers::parse(&text).unwrap();
        assert!(users.check("alice", "wonderland"));
        assert!(!users.check("alice", "Wonderland"));
        assert!(!users.check("bob", "wonderland"));
        assert!(!users.check("alice", ""));
    }

    #[test]
    fn the_file_is_read_again_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        let hash = hash_password("pw").unwrap();
        std::fs::write(&path, format!("alice:{hash}\nbob:{hash}\n")).unwrap();
        let file = UsersFile::load(&path).unwrap();
        assert!(file.current().contains("bob"));
        std::fs::write(&path, format!("alice:{hash}\n")).unwrap();
        assert!(!file.current().contains("bob"));
        assert!(file.current().contains("alice"));
        std::fs::write(&path, "alice:broken\n").unwrap();
        assert!(
            !file.current().contains("alice"),
            "a broken file admits nobody"
        );
    }

    #[test]
    fn a_bad_line_is_named() {
        assert_eq!(BasicUsers::parse("alice:plaintext").err(), Some(1));
        assert_eq!(BasicUsers::parse("# x\nnocolon").err(), Some(2));
        assert_eq!(
            BasicUsers::parse(
                ":$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG0"
            )
            .err(),
            Some(1)
        );
    }
}
