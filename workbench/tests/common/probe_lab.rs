//! Helpers for kernel tests that drive the probe directly: a model that reads every feature, a
//! sender pinned to one CPU, and record mode.

use shared::abi::ProbeConfig;
use shared::features::FEATURE_COUNT;
use shared::model::{LogisticTerm, Model, TRANSFORM_LOG2};

/// A logistic model over every feature (frame sizes, header bytes, the VLAN id among them), so
/// that any field counted or updated differently changes the score; `bias` makes the id.
pub fn every_feature_logistic(bias: i64) -> Box<Model> {
    let terms: Vec<(usize, LogisticTerm)> = (0..FEATURE_COUNT)
        .map(|i| {
            let term = LogisticTerm {
                weight: ((i as i32 * 7919) % 2001 - 1000) * 64 + 17,
                shift: 8,
                transform: TRANSFORM_LOG2,
                _pad: [0; 2],
            };
            (i, term)
        })
        .collect();
    workbench_flow::model::build::logistic(&terms, bias, 0).expect("valid logistic")
}

/// Keeps the calling thread on `cpu`.
pub fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and sched_setaffinity(0, ..)
    // touch only that set and the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw const set),
            0,
            "pinning to CPU {cpu}: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// `config` with every parsed packet recorded (what `verify` runs), written to the probe on
/// `iface`.
pub fn record_mode(iface: &str, config: ProbeConfig) {
    workbench_kernel::models::write_config(
        iface,
        &ProbeConfig {
            record_packets: 1,
            ..config
        },
        workbench_kernel::enforce::DefaultRoute::Refuse,
    )
    .expect("record mode");
}

/// Appends every record waiting in the ring (a read takes a bounded number at a time).
pub fn drain_all(
    reader: &mut workbench_kernel::events::PacketRecordReader,
    records: &mut Vec<shared::abi::PacketRecord>,
) {
    loop {
        let before = records.len();
        reader.drain_into(records).expect("drain records");
        if records.len() == before {
            return;
        }
    }
}
