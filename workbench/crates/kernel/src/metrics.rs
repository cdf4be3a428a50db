//! Prometheus metrics of the probe on an interface (issue 15 item 3), encoded by TiKV's
//! `prometheus` crate (the most used Rust client; without its protobuf feature): the probe's
//! statistics, the flow table, the models in the slots, and the kernel's run time of the probe's
//! program when BPF statistics are on. Every scrape reads the kernel afresh (the values are the
//! kernel's counters, not ours), so a new registry is filled per scrape. Names follow Prometheus'
//! conventions, which `promtool check metrics` lints: counters end in `_total`, time is in seconds,
//! an info metric is a gauge named `..._info` of value 1 with the facts as labels.
//!
//! Not `prometheus-client` (the Prometheus project's client): it writes only OpenMetrics text,
//! whose counter families are named without `_total`, and `promtool check metrics` (which reads
//! the Prometheus text format) then reports every counter as having no help text.

use std::collections::BTreeMap;

use crate::error::{err, Error, Result};
use prometheus::core::Collector;
use prometheus::{CounterVec, GaugeVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use shared::abi::{SLOT_ACTIVE, SLOT_PREVIOUS, SLOT_SHADOW};

use crate::flows::verdict_name;
use crate::{caps, events, models, probe};

/// Where the kernel says whether it counts programs' run time (`sysctl kernel.bpf_stats_enabled`).
const BPF_STATS_SYSCTL: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// What one scrape read from the kernel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub iface: String,
    /// The probe's statistics summed over CPUs, by name (`shared::stats::name`).
    pub stats: BTreeMap<&'static str, u64>,
    /// Flows in the table, by the model that decided and its verdict ("none": not decided yet).
    pub flows: BTreeMap<(String, &'static str), u64>,
    pub active_model: Option<String>,
    pub shadow_model: Option<String>,
    /// The rollback target (`deploy --rollback`).
    pub previous_model: Option<String>,
    /// The sysctl `kernel.bpf_stats_enabled`. Statistics are also on while any process holds a
    /// BPF_ENABLE_STATS fd (`bpftool prog profile`, a test), which the sysctl does not show: the
    /// run-time series are shown whenever the kernel has counted runs.
    pub bpf_stats_enabled: bool,
    /// The probe program's run time and runs as the kernel counts them (neither grows while BPF
    /// statistics are off).
    pub program_run_ns: u64,
    pub program_runs: u64,
}

/// Reads everything the metrics show for the probe on `iface`.
pub fn snapshot(iface: &str) -> Result<Snapshot> {
    caps::require_kernel_access("reading the probe's metrics")?;
    let stats = crate::flows::read_stats(iface)?;
    let mut flows = BTreeMap::new();
    for (_, entry) in events::raw_flows(iface)? {
        let model = if entry.model_id == 0 {
            String::new()
        } else {
            workbench_flow::model::id_string(entry.model_id)
        };
        *flows.entry((model, verdict_name(entry.verdict))).or_insert(0) += 1;
    }
    let slots = models::ProbeModels::open(iface)?;
    let id_in = |slot| -> Result<Option<String>> {
        Ok(slots
            .read_slot(slot)?
            .map(|(_, m)| workbench_flow::model::id_string(m.header.model_id)))
    };
    let program =
        aya::programs::ProgramInfo::from_pin(crate::bpffs::iface_dir(iface).join(probe::PIN_PROGRAM))
            .map_err(|e| Error::bpf(format!("{iface}: reading the probe program's statistics"), e))?;
    Ok(Snapshot {
        iface: iface.to_string(),
        stats,
        flows,
        active_model: id_in(SLOT_ACTIVE)?,
        shadow_model: id_in(SLOT_SHADOW)?,
        previous_model: id_in(SLOT_PREVIOUS)?,
        bpf_stats_enabled: std::fs::read_to_string(BPF_STATS_SYSCTL).is_ok_and(|s| s.trim() == "1"),
        program_run_ns: program.run_time().as_nanos() as u64,
        program_runs: program.run_count(),
    })
}

/// The probe statistics that become counters of their own: (statistic, metric name, help).
const COUNTERS: &[(&str, &str, &str)] = &[
    ("packets", "packets_total", "Frames the probe ran on"),
    (
        "parsed",
        "packets_parsed_total",
        "Frames that became flow packets",
    ),
    (
        "flows_created",
        "flows_created_total",
        "Entries created in the flow table",
    ),
    (
        "flow_insert_failed",
        "flow_insert_failures_total",
        "Flow table insertions that failed",
    ),
    (
        "evaluations",
        "evaluations_total",
        "Evaluations of the active model",
    ),
    (
        "verdict_changes",
        "verdict_changes_total",
        "Changes of a flow's active verdict (one event each)",
    ),
    (
        "events_lost",
        "events_lost_total",
        "Verdict events that did not fit in the ring buffer",
    ),
    (
        "records_lost",
        "records_lost_total",
        "Packet records (record mode) that did not fit in the ring buffer",
    ),
    (
        "shadow_disagreements",
        "shadow_disagreements_total",
        "Decisions where the shadow model disagreed with the active one",
    ),
    (
        "shadow_beside_malicious",
        "shadow_beside_malicious_total",
        "Decisions with a shadow model where the active model said malicious",
    ),
    (
        "shadow_missed",
        "shadow_missed_total",
        "Of them, decisions where the shadow model said benign",
    ),
    (
        "dropped",
        "packets_dropped_total",
        "Packets dropped in enforce mode",
    ),
    (
        "would_drop",
        "packets_would_drop_total",
        "Packets dry-run mode would have dropped",
    ),
    (
        "allowlisted",
        "packets_allowlisted_total",
        "Packets of malicious flows passed because an endpoint is allowlisted",
    ),
    (
        "flow_lock_busy",
        "flow_lock_busy_total",
        "Packets left out of their flow because another CPU held its lock for all the probe's tries",
    ),
    (
        "dropped_unparsed",
        "packets_unparsed_dropped_total",
        "Frames the probe could not read that enforce mode dropped (the drop_unparsed policy)",
    ),
    (
        "would_drop_unparsed",
        "packets_unparsed_would_drop_total",
        "Frames the probe could not read that dry-run mode would have dropped",
    ),
];

fn registered<M: Collector + Clone + 'static>(registry: &Registry, metric: M) -> Result<M> {
    registry
        .register(Box::new(metric.clone()))
        .map_err(|e| err!(Invalid, "registering a metric: {e}"))?;
    Ok(metric)
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

/// The snapshot in Prometheus' text format (version 0.0.4, what `promtool check metrics` reads).
pub fn encode_snapshot(s: &Snapshot) -> Result<String> {
    encode_families(&registry_of(s)?.gather())
}

/// The snapshot's metrics in a registry of their own (`workbench agent` merges several
/// interfaces' and its own into one exposition: [`merge_families`]).
pub fn registry_of(s: &Snapshot) -> Result<Registry> {
    let bad = |e: prometheus::Error| err!(Invalid, "building the metrics: {e}");
    let registry = Registry::new_custom(Some("workbench".into()), None).map_err(bad)?;
    let iface = [s.iface.as_str()];
    for (stat, name, help) in COUNTERS {
        let c = registered(
            &registry,
            IntCounterVec::new(opts(name, help), &["iface"]).map_err(bad)?,
        )?;
        c.with_label_values(&iface)
            .inc_by(s.stats.get(stat).copied().unwrap_or(0));
    }
    let unparsed = registered(
        &registry,
        IntCounterVec::new(
            opts(
                "packets_unparsed_total",
                "Frames the probe could not parse, by reason",
            ),
            &["iface", "reason"],
        )
        .map_err(bad)?,
    )?;
    for reason in shared::ParseError::ALL {
        unparsed
            .with_label_values(&[s.iface.as_str(), reason.name()])
            .inc_by(s.stats.get(reason.name()).copied().unwrap_or(0));
    }

    let flows = registered(
        &registry,
        IntGaugeVec::new(opts("flows", "Flows in the probe's flow table"), &["iface"]).map_err(bad)?,
    )?;
    let by_verdict = registered(
        &registry,
        IntGaugeVec::new(
            opts(
                "flow_verdicts",
                "Flows in the table by the model that decided and its verdict (model empty and verdict none: not decided yet)",
            ),
            &["iface", "model", "verdict"],
        )
        .map_err(bad)?,
    )?;
    let mut total = 0;
    for ((model, verdict), n) in &s.flows {
        total += n;
        by_verdict
            .with_label_values(&[s.iface.as_str(), model, verdict])
            .set(*n as i64);
    }
    flows.with_label_values(&iface).set(total as i64);

    let info = registered(
        &registry,
        IntGaugeVec::new(
            opts(
                "model_info",
                "The model in a slot of the probe (value 1; the id in the label)",
            ),
            &["iface", "slot", "model"],
        )
        .map_err(bad)?,
    )?;
    for (slot, model) in [
        ("active", &s.active_model),
        ("shadow", &s.shadow_model),
        ("previous", &s.previous_model),
    ] {
        if let Some(m) = model {
            info.with_label_values(&[s.iface.as_str(), slot, m]).set(1);
        }
    }

    let enabled = registered(
        &registry,
        IntGauge::new(
            "bpf_stats_enabled",
            "The sysctl kernel.bpf_stats_enabled (1: the kernel counts BPF programs' run time)",
        )
        .map_err(bad)?,
    )?;
    enabled.set(i64::from(s.bpf_stats_enabled));
    if s.bpf_stats_enabled || s.program_runs > 0 {
        let run_seconds = registered(
            &registry,
            CounterVec::new(
                opts(
                    "program_run_seconds_total",
                    "Time the kernel counted in the probe program while BPF statistics were on",
                ),
                &["iface"],
            )
            .map_err(bad)?,
        )?;
        run_seconds
            .with_label_values(&iface)
            .inc_by(s.program_run_ns as f64 / 1e9);
        let runs = registered(
            &registry,
            IntCounterVec::new(
                opts(
                    "program_runs_total",
                    "Runs of the probe program counted while BPF statistics were on",
                ),
                &["iface"],
            )
            .map_err(bad)?,
        )?;
        runs.with_label_values(&iface).inc_by(s.program_runs);
        if s.program_runs > 0 {
            let mean = registered(
                &registry,
                GaugeVec::new(
                    opts(
                        "program_mean_run_seconds",
                        "Mean run time of the probe program per packet (x 1e9: ns per packet)",
                    ),
                    &["iface"],
                )
                .map_err(bad)?,
            )?;
            mean.with_label_values(&iface)
                .set(s.program_run_ns as f64 / s.program_runs as f64 / 1e9);
        }
    }
    Ok(registry)
}

/// Metric families in Prometheus' text format.
pub fn encode_families(families: &[prometheus::proto::MetricFamily]) -> Result<String> {
    let mut out = String::new();
    TextEncoder::new()
        .encode_utf8(families, &mut out)
        .map_err(|e| err!(Invalid, "encoding the metrics: {e}"))?;
    Ok(out)
}

/// One family per name from several registries' families (one per interface, say): the text
/// format allows a family's HELP and TYPE once, so the series of families of the same name are
/// joined, and a series whose labels are already there (an unlabelled gauge such as
/// `bpf_stats_enabled`, the same for every interface) is kept once.
pub fn merge_families(
    groups: Vec<Vec<prometheus::proto::MetricFamily>>,
) -> Vec<prometheus::proto::MetricFamily> {
    let mut merged: BTreeMap<String, prometheus::proto::MetricFamily> = BTreeMap::new();
    let labels = |m: &prometheus::proto::Metric| -> Vec<(String, String)> {
        m.get_label()
            .iter()
            .map(|l| (l.name().to_string(), l.value().to_string()))
            .collect()
    };
    for family in groups.into_iter().flatten() {
        match merged.entry(family.name().to_string()) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(family);
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                let into = o.get_mut();
                for m in family.get_metric() {
                    let l = labels(m);
                    if !into.get_metric().iter().any(|x| labels(x) == l) {
                        into.mut_metric().push(m.clone());
                    }
                }
            }
        }
    }
    merged.into_values().collect()
}
