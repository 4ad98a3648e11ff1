//! What one request may ask for and how much statement text is kept
//! (`livy.server.request.max-*`, `livy.server.statement.max-*-bytes`,
//! `livy.server.session.max-retained-output-bytes`), checked into
//! [`Limits`]. Only values here; the API and the driver enforce them.

use super::values::parse_bytes;
use super::{ConfigError, keys};

/// Sanity caps on what one request may ask for (`livy.server.request.max-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceCaps {
    pub driver_cores: u32,
    pub executor_cores: u32,
    pub num_executors: u32,
    /// Bytes.
    pub driver_memory: u64,
    pub executor_memory: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Caps on requested cores, executors and memory.
    pub caps: ResourceCaps,
    /// Longest statement code accepted.
    pub statement_max_code: usize,
    /// Largest statement output a driver keeps (it cuts longer ones).
    pub statement_max_output: u64,
    /// Statement output the server keeps per session (0: no limit).
    pub session_max_retained_output: u64,
}

/// `get(key)` returns the raw value and where it came from.
pub fn parse(get: &dyn Fn(&'static str) -> (String, String)) -> Result<Limits, ConfigError> {
    let bad = |key: &'static str, reason: String| super::bad_value(get, key, reason);
    let count = |key: &'static str| -> Result<u32, ConfigError> {
        match get(key).0.trim().parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(bad(key, "expected a positive integer".to_owned())),
        }
    };
    let bytes = |key: &'static str, min: u64| -> Result<u64, ConfigError> {
        match parse_bytes(get(key).0.trim()) {
            Ok(n) if n >= min => Ok(n),
            Ok(_) => Err(bad(key, format!("must be at least {min} byte(s)"))),
            Err(reason) => Err(bad(key, reason)),
        }
    };
    Ok(Limits {
        caps: ResourceCaps {
            driver_cores: count(keys::MAX_DRIVER_CORES)?,
            executor_cores: count(keys::MAX_EXECUTOR_CORES)?,
            num_executors: count(keys::MAX_NUM_EXECUTORS)?,
            driver_memory: bytes(keys::MAX_DRIVER_MEMORY, 1)?,
            executor_memory: bytes(keys::MAX_EXECUTOR_MEMORY, 1)?,
        },
        statement_max_code: bytes(keys::STATEMENT_MAX_CODE, 1)? as usize,
        statement_max_output: bytes(keys::STATEMENT_MAX_OUTPUT, 1)?,
        session_max_retained_output: bytes(keys::SESSION_MAX_RETAINED_OUTPUT, 0)?,
    })
}
