//! `aya::Pod` for the map types (userspace only).
//!
//! SAFETY (for each impl): the type is `#[repr(C)]`, `Copy`, has explicit padding fields so
//! that every byte is initialised, and any bit pattern is a valid value.
unsafe impl aya::Pod for crate::flow::FlowKey {}
unsafe impl aya::Pod for crate::flow::FlowEntry {}
unsafe impl aya::Pod for crate::abi::ProbeConfig {}
unsafe impl aya::Pod for crate::abi::VerdictEvent {}
unsafe impl aya::Pod for crate::abi::PacketRecord {}
