//! The server side of the interactive channel: a callback listener that
//! drivers dial, a per-session secret handshake, statement dispatch (FIFO per
//! session), cancel, completion and progress. Statement history lives here
//! and in the driver, which re-sends it after a reconnect.
//!
//! This module runs no user code and launches nothing; the reconciler starts
//! drivers and registers their sessions here.

pub mod class_data;
pub mod driver_build;
mod hub;
pub mod protocol;

pub use hub::{AddError, Addition, ChannelSnapshot, ReplError, ReplHub, Source};
