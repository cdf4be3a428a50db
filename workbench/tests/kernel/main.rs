//! The kernel tests: the probe loaded into the running kernel, labs of network namespaces, real
//! traffic, and Debian 12's own kernel booted under qemu, in one test binary. Every test is ignored
//! unless the `kernel-tests` feature is on (`cargo xtask test` turns it on, so CI runs them all);
//! with it on, a test that cannot reach the kernel fails instead of passing silently.

#[path = "../common/mod.rs"]
mod common;

mod agent;
mod agent_claims;
mod agent_faults;
mod agent_http;
mod agent_promotion;
mod bench;
mod bench_events;
mod broken_pipe;
mod cleanup;
mod coarse_clock;
mod code_engine;
mod code_limits;
mod config_flags;
mod demo;
mod demo_hangup;
mod eval;
mod flood;
mod frame_sender;
mod gen_pcaps;
mod gso_decisions;
mod gso_gro;
mod hostile;
mod hot_swap;
mod insert_race;
mod ipv6_ext_headers;
mod lifecycle;
mod live_stream;
mod metrics_scrape;
mod model_cost;
mod model_slots;
mod models;
mod multiqueue_parity;
mod not_attached;
mod privileges;
mod probe;
mod qemu_debian12;
mod readme_path;
mod replay_lab;
mod replay_passes;
mod score_scale;
mod sec_enforce_guard;
mod sec_parse_lengths;
mod snap_length;
mod tc_chain;
mod tc_classic;
mod tc_cleanup;
mod train_datasets;
mod tui;
mod tui_anywhere;
mod tui_tmux;
mod tui_trained;
mod unparsed_policy;
mod verify;
mod vlan;
mod vlan_tracking;
