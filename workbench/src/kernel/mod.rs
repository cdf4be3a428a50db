//! Everything that talks to the kernel's BPF subsystem.

pub mod bpffs;
pub mod caps;
pub mod flows;
pub mod probe;
