//! The built-in option for deployments with neither Kerberos nor LDAP: HTTP
//! Basic against a file of salted password hashes (`user:$argon2id$…`, one
//! per line, `#` comments; `livy-server hash-password` prints a hash).
//! Argon2 is slow on purpose; the auth cookie spares clients a check per
//! request.

use std::collections::HashMap;
use std::path::Path;

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
