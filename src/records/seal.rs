//! Conf secrets sealed inside records. A conf value the redaction pattern
//! hides is stored encrypted (ChaCha20-Poly1305) under a key derived from a
//! secret kept apart from the records: the embedded store's data dir key
//! file, PostgreSQL's shared cluster secret, or Kubernetes' peer `Secret`.
//! Whoever reads a record (a database row, `kubectl get livysession -o yaml`)
//! sees only `sealed:v1:…`; the launcher opens it for spark-submit. Each
//! value is bound to its record's owner and conf key, so a sealed value
//! copied into another user's request does not open.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use super::redact::Redaction;

/// How every sealed value starts (requests may not send such values).
pub const SEALED_PREFIX: &str = "sealed:v1:";

const SALT: &[u8] = b"livy-server conf sealing";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error(
        "conf {key:?}: its sealed value does not open with this server's key (the key it was sealed with is gone: the data dir's conf-seal.key, or the cluster's shared secret, was replaced)"
    )]
    Unopenable { key: String },
}

/// Seals and opens conf values with one key.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// The sealer whose key is derived (HKDF-SHA256) from `secret`.
    pub fn new(secret: &[u8]) -> Self {
        let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, SALT).extract(secret);
        let okm = prk
            .expand(&[b"conf"], &CHACHA20_POLY1305)
            .unwrap_or_else(|_| unreachable!("32 bytes is within HKDF-SHA256's output"));
        Self {
            key: LessSafeKey::new(UnboundKey::from(okm)),
            rng: SystemRandom::new(),
        }
    }

    fn aad(owner: Option<&str>, key: &str) -> Vec<u8> {
        let mut aad = owner.unwrap_or_default().as_bytes().to_vec();
        aad.push(0);
        aad.extend_from_slice(key.as_bytes());
        aad
    }

    fn seal(&self, owner: Option<&str>, key: &str, value: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .unwrap_or_else(|_| unreachable!("the system's random source failed"));
        let mut data = value.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(owner, key)),
                &mut data,
            )
            .unwrap_or_else(|_| unreachable!("a conf value is far below ChaCha20's limit"));
        let mut out = nonce.to_vec();
        out.extend(data);
        format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    fn open(&self, owner: Option<&str>, key: &str, sealed: &str) -> Result<String, SealError> {
        let unopenable = || SealError::Unopenable {
            key: key.to_owned(),
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(&sealed[SEALED_PREFIX.len()..])
            .map_err(|_| unopenable())?;
        if bytes.len() < NONCE_LEN {
            return Err(unopenable());
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unopenable())?;
        let mut data = data.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(Self::aad(owner, key)), &mut data)
            .map_err(|_| unopenable())?;
        String::from_utf8(plain.to_vec()).map_err(|_| unopenable())
    }

    /// `conf` as it is stored: every value `redaction` hides is sealed,
    /// bound to `owner` and its key.
    pub fn seal_conf(
        &self,
        redaction: &Redaction,
        owner: Option<&str>,
        conf: &mut BTreeMap<String, String>,
    ) {
        for (k, v) in conf.iter_mut() {
            if !is_sealed(v) && redaction.hides(k, v) {
                *v = self.seal(owner, k, v);
            }
        }
    }

    /// `conf` as the application gets it: every sealed value opened.
    pub fn open_conf(
        &self,
        owner: Option<&str>,
        conf: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, SealError> {
        conf.iter()
            .map(|(k, v)| {
                let v = match is_sealed(v) {
                    true => self.open(owner, k, v)?,
                    false => v.clone(),
                };
                Ok((k.clone(), v))
            })
            .collect()
    }
}

/// Whether a stored conf value is sealed.
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::records::conf_of as conf;

    #[test]
    fn hidden_values_are_sealed_and_open_again() {
        let s = Sealer::new(b"cluster secret");
        let original = conf(&[
            ("spark.app.password", "hunter2"),
            ("spark.executor.cores", "2"),
            ("spark.myapp.url", "https://x/?token=abc"),
        ]);
        let mut stored = original.clone();
        s.seal_conf(&Redaction::default(), Some("alice"), &mut stored);
        assert!(is_sealed(&stored["spark.app.password"]), "{stored:?}");
        assert!(is_sealed(&stored["spark.myapp.url"]), "{stored:?}");
        assert_eq!(stored["spark.executor.cores"], "2");
        let text = format!("{stored:?}");
        assert!(!text.contains("hunter2") && !text.contains("abc"), "{text}");
        assert_eq!(s.open_conf(Some("alice"), &stored).unwrap(), original);
        // Sealing twice changes nothing already sealed.
        let mut again = stored.clone();
        s.seal_conf(&Redaction::default(), Some("alice"), &mut again);
        assert_eq!(again, stored);
    }

    #[test]
    fn the_same_value_seals_differently_each_time() {
        let s = Sealer::new(b"k");
        assert_ne!(s.seal(None, "k", "v"), s.seal(None, "k", "v"));
    }

    #[test]
    fn a_value_opens_only_for_its_owner_key_and_secret() {
        let s = Sealer::new(b"cluster secret");
        let sealed = s.seal(Some("alice"), "spark.app.password", "hunter2");
        let refused = |owner: Option<&str>, key: &str, sealer: &Sealer| {
            let conf = conf(&[(key, &sealed)]);
            assert_eq!(
                sealer.open_conf(owner, &conf),
                Err(SealError::Unopenable { key: key.into() })
            );
        };
        refused(Some("mallory"), "spark.app.password", &s);
        refused(None, "spark.app.password", &s);
        refused(Some("alice"), "spark.other.password", &s);
        refused(Some("alice"), "spark.app.password", &Sealer::new(b"other"));
        // Malformed: cut short, or not base64.
        for bad in [&sealed[..SEALED_PREFIX.len() + 4], "sealed:v1:!!"] {
            let conf = conf(&[("spark.k", bad)]);
            assert!(s.open_conf(Some("alice"), &conf).is_err(), "{bad}");
        }
    }
}
