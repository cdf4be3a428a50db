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

/// Zeroes a plain-old-data value (every bit pattern valid, all-zero its default) with aligned
/// 8-byte stores. `*v = T::default()` becomes a `memset` call for large types, whose byte loop
/// does pointer arithmetic the verifier refuses to programs loaded without CAP_PERFMON; volatile
/// word stores stay plain stores.
#[inline(always)]
pub(crate) fn zero_words<T: Copy>(v: &mut T) {
    const { assert!(core::mem::size_of::<T>().is_multiple_of(8) && core::mem::align_of::<T>() >= 8) };
    let words = core::ptr::from_mut::<T>(v).cast::<u64>();
    for i in 0..core::mem::size_of::<T>() / 8 {
        // SAFETY: in bounds (size is a multiple of 8) and aligned (align >= 8); callers only pass
        // types for which all-zero bytes are a valid value.
        unsafe { core::ptr::write_volatile(words.add(i), 0) };
    }
}
pub use packet::{
    parse_ethernet, parse_ip, FrameBytes, PacketBytes, ParseError, ParsedPacket, Segmentation, VlanTag,
};
