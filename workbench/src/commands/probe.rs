//! `workbench probe attach|detach|status|cost|flows`.

use std::fmt;

use color_eyre::eyre::Result;

use crate::cli::ProbeCommand;
use crate::output::Shown;
use workbench_kernel::{flows, probe};

pub fn run(cmd: ProbeCommand) -> Result<()> {
    match cmd {
        ProbeCommand::Attach {
            iface,
            flow_table,
            netns,
            attach,
            output,
        } => {
            workbench_kernel::lifecycle::install()?;
            let report = probe::attach_in(
                netns.as_deref(),
                &iface,
                &probe::AttachOptions {
                    flow_table_entries: flow_table,
                    mode: attach,
                    ..Default::default()
                },
            )?;
            output.emit(&Shown::new(&report, attached))
        }
        ProbeCommand::Detach { iface, netns, output } => output.emit(&Shown::new(
            &probe::detach_in(netns.as_deref(), &iface)?,
            detached,
        )),
        ProbeCommand::Cleanup { stale, output } => {
            let report = if stale {
                workbench_kernel::cleanup::cleanup_stale()?
            } else {
                workbench_kernel::cleanup::cleanup()?
            };
            output.emit(&Shown::new(&report, cleaned))
        }
        ProbeCommand::Status { iface, output } => {
            let report = workbench_kernel::models::ProbeModels::open(&iface)?.report()?;
            output.emit(&Shown::new(&report, status))
        }
        ProbeCommand::Cost {
            iface,
            window_ms,
            output,
        } => {
            workbench_kernel::lifecycle::install()?;
            let report = super::probe_cost::measure(&iface, window_ms)?;
            output.emit(&report)
        }
        ProbeCommand::Flows { iface, output } => output.emit(&Shown::new(&flows::read(&iface)?, flow_table)),
    }
}

fn attached(report: &probe::AttachReport, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let how = match &report.tc {
        None => "as TCX links".to_string(),
        Some(tc) => format!(
            "as cls_bpf filters (priority {}, handle {:#x}) on a clsact qdisc {}{}",
            tc.priority,
            tc.handle,
            if tc.qdisc_created {
                "it added"
            } else {
                "already there"
            },
            report
                .tcx_unavailable
                .as_ref()
                .map_or(String::new(), |r| format!("; no TCX here: {r}"))
        ),
    };
    writeln!(
        f,
        "probe attached to {} (ifindex {}) at ingress and egress {how}; program id {}, {} instructions verified, flow table {} entries; pinned in {}",
        report.iface,
        report.ifindex,
        report.program_id,
        report.verified_instructions.map_or("?".to_string(), |n| n.to_string()),
        report.flow_table_entries,
        report.pin_dir
    )?;
    if !report.flow_lock {
        writeln!(
            f,
            "note: this kernel refuses BPF atomics (Linux 5.12), so the probe runs without its per-flow lock: \
             two CPUs updating one flow at once (a multi-queue NIC) can lose an update"
        )?;
    }
    Ok(())
}

fn detached(report: &probe::DetachReport, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(
        f,
        "probe detached from {} (removed {})",
        report.iface,
        report.removed_pins.join(", ")
    )?;
    for filter in &report.tc.removed_filters {
        writeln!(f, "removed cls_bpf filter {filter}")?;
    }
    for iface in &report.tc.removed_qdiscs {
        writeln!(f, "removed the clsact qdisc the probe had added to {iface}")?;
    }
    for note in &report.tc.notes {
        writeln!(f, "note: {note}")?;
    }
    Ok(())
}

fn cleaned(report: &workbench_kernel::cleanup::CleanupReport, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if report.stale_only && report.leftovers.is_empty() {
        return writeln!(
            f,
            "nothing stale: no killed workbench command left anything behind"
        );
    }
    for s in &report.leftovers {
        writeln!(f, "{}", s.removed())?;
    }
    writeln!(
        f,
        "removed {} pinned objects, {} cls_bpf filters, {} clsact qdiscs, {} namespaces, {} links",
        report.removed_pins.len(),
        report.tc.removed_filters.len(),
        report.tc.removed_qdiscs.len(),
        report.removed_namespaces.len(),
        report.removed_links.len()
    )?;
    for note in &report.tc.notes {
        writeln!(f, "note: {note}")?;
    }
    Ok(())
}

/// The models and settings of the probe on one interface, in words.
fn status(r: &workbench_kernel::models::ModelsReport, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let slot = |s: &Option<workbench_kernel::models::SlotInfo>| {
        s.as_ref()
            .map_or_else(|| "none".to_string(), |s| format!("{} ({})", s.model, s.kind))
    };
    writeln!(
        f,
        "probe on {} ({}), mode {}",
        r.iface,
        match r.attach_mode {
            "tc" => "cls_bpf filters on a clsact qdisc",
            "tcx" => "TCX links",
            other => other,
        },
        r.mode
    )?;
    writeln!(f, "  active model:   {}", slot(&r.active))?;
    writeln!(f, "  shadow model:   {}", slot(&r.shadow))?;
    writeln!(f, "  previous model: {} (the rollback target)", slot(&r.previous))?;
    writeln!(
        f,
        "  decides at {} of each flow",
        workbench_kernel::models::decision_points_words(r.decide_first_packets, r.decide_every)
    )?;
    writeln!(
        f,
        "  clock:          {}",
        match r.clock {
            "coarse" => "coarse (the timer tick's; time features at tick resolution)",
            _ => "ns (bpf_ktime_get_ns)",
        }
    )?;
    if !r.older_probe_lacks.is_empty() {
        writeln!(
            f,
            "  attached by an older workbench; lacks {} (detach and attach it again)",
            r.older_probe_lacks.join("; ")
        )?;
    }
    writeln!(
        f,
        "  unreadable frames enforce drops: {}",
        if r.drop_unparsed.is_empty() {
            "none (frames the probe cannot read pass)".to_string()
        } else {
            r.drop_unparsed.join(", ")
        }
    )?;
    writeln!(
        f,
        "  never dropped for a verdict:   {}",
        if r.allowlist.is_empty() {
            "nothing allowlisted".to_string()
        } else {
            r.allowlist.join(", ")
        }
    )
}

/// The flow table as aligned text.
fn flow_table(table: &flows::FlowTable, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(
        f,
        "{:<6} {:>4} {:>40} {:>40} {:>9} {:>9} {:>11} {:>11} {:>9} {:>5} {:>8}",
        "proto",
        "vlan",
        "source",
        "destination",
        "fwd_pkts",
        "bwd_pkts",
        "fwd_bytes",
        "bwd_bytes",
        "verdict",
        "score",
        "model"
    )?;
    for flow in &table.flows {
        // The score as P(malicious), like every other score the workbench shows.
        let score = match (flow.verdict, flow.probability) {
            ("none", _) => "-".to_string(),
            (_, Some(p)) => format!("{p:.2}"),
            (_, None) => "?".to_string(),
        };
        writeln!(
            f,
            "{:<6} {:>4} {:>40} {:>40} {:>9} {:>9} {:>11} {:>11} {:>9} {:>5} {:>8}",
            flow.proto,
            // The outermost VLAN tag's id, part of the flow's key; "-" untagged.
            if flow.vlan_id == 0 {
                "-".to_string()
            } else {
                flow.vlan_id.to_string()
            },
            format!("{}:{}", flow.src, flow.src_port),
            format!("{}:{}", flow.dst, flow.dst_port),
            flow.fwd_packets,
            flow.bwd_packets,
            flow.fwd_bytes,
            flow.bwd_bytes,
            flow.verdict,
            score,
            flow.model.as_deref().unwrap_or("-")
        )?;
    }
    let stats: Vec<String> = table
        .stats
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    writeln!(
        f,
        "{} flows on {}; probe statistics: {}",
        table.flows.len(),
        table.iface,
        stats.join(" ")
    )
}
