//! Where the CLI finds its server and credentials: flags win over the
//! environment (`LIVY_URL`, `LIVY_USER`, `LIVY_PASSWORD`; clap merges those
//! two), which win over the config file, which wins over the default URL.
//! The file is TOML with the keys `url`, `user` and `password`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::client::Basic;

pub const DEFAULT_URL: &str = "http://localhost:8998";

/// The config file's contents; every key optional.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub url: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
}

/// What flags and environment gave (clap already let flags win).
#[derive(Debug, Default)]
pub struct Given {
    pub url: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Resolved {
    pub url: String,
    pub auth: Option<Basic>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("bad config file {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("a password was given without a user (--user, LIVY_USER or `user` in the config file)")]
    PasswordWithoutUser,
}

/// `~/.config/livy/config.toml` (or under `$XDG_CONFIG_HOME`).
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("livy").join("config.toml"))
}

/// Reads the config file: `explicit` must exist; the default path may not.
pub fn load(explicit: Option<&Path>) -> Result<FileConfig, Error> {
    let (path, required) = match explicit {
        Some(p) => (p.to_owned(), true),
        None => match default_path() {
            Some(p) => (p, false),
            None => return Ok(FileConfig::default()),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(FileConfig::default());
        }
        Err(source) => return Err(Error::Read { path, source }),
    };
    let file: FileConfig = toml::from_str(&text).map_err(|e| Error::Parse {
        reason: e.message().to_owned(),
        path: path.clone(),
    })?;
    if let Some(warning) = exposure(&path, &file) {
        eprintln!("livy: warning: {warning}");
    }
    Ok(file)
}

/// A warning when the file holds a password (`password`, or one in `url`)
/// and other users may read it.
fn exposure(path: &Path, file: &FileConfig) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let in_url = file
        .url
        .as_deref()
        .is_some_and(|u| crate::sanitize::shown_url(u) != u);
    if file.password.is_none() && !in_url {
        return None;
    }
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o044 != 0).then(|| {
        format!(
            "the config file {} holds a password and other users can read it (mode {mode:03o}); run chmod 600 on it",
            path.display()
        )
    })
}

/// Flags/env over the file over the defaults. A user without a password
/// authenticates with an empty one (as curl does with `-u user:`).
pub fn resolve(given: Given, file: FileConfig) -> Result<Resolved, Error> {
    let url = given
        .url
        .or(file.url)
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let user = given.user.or(file.user);
    let password = given.password.or(file.password);
    let auth = match (user, password) {
        (Some(user), password) => Some(Basic {
            user,
            password: password.unwrap_or_default(),
        }),
        (None, Some(_)) => return Err(Error::PasswordWithoutUser),
        (None, None) => None,
    };
    Ok(Resolved { url, auth })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn given_beats_file_beats_default() {
        let file = FileConfig {
            url: s("http://file:1"),
            user: s("fu"),
            password: s("fp"),
        };
        let r = resolve(
            Given {
                url: s("http://flag:2"),
                ..Given::default()
            },
            file,
        )
        .expect("resolves");
        assert_eq!(r.url, "http://flag:2");
        assert_eq!(
            r.auth,
            Some(Basic {
                user: "fu".into(),
                password: "fp".into()
            })
        );
        let r = resolve(Given::default(), FileConfig::default()).expect("resolves");
        assert_eq!(
            r,
            Resolved {
                url: DEFAULT_URL.into(),
                auth: None
            }
        );
        assert!(matches!(
            resolve(
                Given {
                    password: s("p"),
                    ..Given::default()
                },
                FileConfig::default()
            ),
            Err(Error::PasswordWithoutUser)
        ));
    }

    #[test]
    fn file_format() {
        let f: FileConfig = toml::from_str("url = \"http://x:1\"\nuser = \"u\"\n").expect("parses");
        assert_eq!(f.url.as_deref(), Some("http://x:1"));
        assert!(toml::from_str::<FileConfig>("uri = 1").is_err());
    }

    #[test]
    fn a_readable_file_with_a_password_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "").expect("written");
        let set = |mode| {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod")
        };
        let with_password = FileConfig {
            password: s("pw"),
            ..FileConfig::default()
        };
        let in_url = FileConfig {
            url: s("http://u:pw@h:1"),
            ..FileConfig::default()
        };
        let no_password = FileConfig {
            url: s("http://u@h:1"),
            user: s("u"),
            password: None,
        };
        set(0o644);
        assert!(exposure(&path, &with_password).is_some_and(|w| w.contains("mode 644")));
        assert!(exposure(&path, &in_url).is_some());
        assert_eq!(exposure(&path, &no_password), None);
        set(0o640);
        assert!(exposure(&path, &with_password).is_some());
        set(0o600);
        assert_eq!(exposure(&path, &with_password), None);
    }
}
