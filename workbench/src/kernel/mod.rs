//! Everything that talks to the kernel's BPF subsystem.

pub mod allowlist;
pub mod bpffs;
pub mod caps;
pub mod cleanup;
pub mod events;
pub mod features;
pub mod flows;
pub mod models;
pub mod probe;
pub mod rtnl;
pub mod sys;
pub mod tc;
