//! Code shared by the eBPF probe and the workbench.
//!
//! Everything here is `no_std` and integer-only, so that the probe (built for
//! `bpfel-unknown-none`) and userspace compile the *same* packet parser and flow update: the
//! features a model is trained on are computed by the code that computes them in the kernel.
//! Map value types are `#[repr(C)]` with explicit padding and a size assertion each; the `user`
//! feature derives `aya::Pod` for them.
#![no_std]

pub mod abi;
pub mod decide;
pub mod features;
pub mod flow;
pub mod model;
pub mod packet;
pub mod stats;

#[cfg(feature = "user")]
mod pod;

pub use flow::{FlowEntry, FlowKey};
pub use packet::{parse_ethernet, parse_ip, FrameBytes, PacketBytes, ParseError, ParsedPacket};
