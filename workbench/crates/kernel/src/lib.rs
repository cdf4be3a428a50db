//! Everything that talks to the kernel: the probe built by `build.rs` and embedded in this crate
//! (`probe`), its model slots (`models`), flows, statistics and events, the allowlist, the lab
//! namespaces that traffic may go to (`lab`), what a killed run left behind (`lifecycle`),
//! replaying captures into a lab (`replay`) and checking the kernel against the userspace twin
//! (`verify`).

pub mod allowlist;
pub mod bpffs;
pub mod caps;
pub mod cleanup;
pub mod code;
pub mod cost;
pub mod enforce;
pub mod error;
pub mod eve;
pub mod eve_sink;
pub mod eve_socket;
pub mod events;
pub mod features;
pub mod flows;
pub mod lab;
pub mod lifecycle;
pub mod live_cost;
mod locks;
pub mod metrics;
pub mod models;
pub mod probe;
pub mod replay;
pub(crate) mod ring;
pub(crate) mod rtnl;
pub mod sys;
pub mod tc;
pub mod verify;

pub use error::{Error, Result};
