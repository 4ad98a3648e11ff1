//! What one request may ask for and how much statement text is kept
//! (`livy.server.request.max-*`, `livy.server.statement.max-*-bytes`,
//! `livy.server.session.max-retained-output-bytes`), checked into
//! [`Limits`]. Only values here; the API and the driver enforce them.

use super::{ConfigError, Settings, keys};

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

pub(crate) fn parse(s: &Settings<'_>) -> Result<Limits, ConfigError> {
    let bytes = |key: &'static str, min: u64| -> Result<u64, ConfigError> {
        let n = s.bytes(key)?;
        s.ensure(key, n >= min, || format!("must be at least {min} byte(s)"))?;
        Ok(n)
    };
    Ok(Limits {
        caps: ResourceCaps {
            driver_cores: s.positive(keys::MAX_DRIVER_CORES)?,
            executor_cores: s.positive(keys::MAX_EXECUTOR_CORES)?,
            num_executors: s.positive(keys::MAX_NUM_EXECUTORS)?,
            driver_memory: bytes(keys::MAX_DRIVER_MEMORY, 1)?,
            executor_memory: bytes(keys::MAX_EXECUTOR_MEMORY, 1)?,
        },
        statement_max_code: bytes(keys::STATEMENT_MAX_CODE, 1)? as usize,
        statement_max_output: bytes(keys::STATEMENT_MAX_OUTPUT, 1)?,
        session_max_retained_output: bytes(keys::SESSION_MAX_RETAINED_OUTPUT, 0)?,
    })
}
