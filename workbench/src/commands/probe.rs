//! `workbench probe attach|detach|flows`.

use color_eyre::eyre::Result;

use super::print_json;
use crate::cli::ProbeCommand;
use workbench_kernel::{flows, probe};

pub fn run(cmd: ProbeCommand) -> Result<()> {
    match cmd {
        ProbeCommand::Attach {
            iface,
            flow_table,
            netns,
            attach,
            json,
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
            if json {
                return print_json(&report);
            }
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
            println!(
                "probe attached to {} (ifindex {}) at ingress and egress {how}; program id {}, {} instructions verified, flow table {} entries; pinned in {}",
                report.iface,
                report.ifindex,
                report.program_id,
                report.verified_instructions.map_or("?".to_string(), |n| n.to_string()),
                report.flow_table_entries,
                report.pin_dir
            );
            Ok(())
        }
        ProbeCommand::Detach { iface, json } => {
            let report = probe::detach(&iface)?;
            if json {
                return print_json(&report);
            }
            println!(
                "probe detached from {} (removed {})",
                report.iface,
                report.removed_pins.join(", ")
            );
            for filter in &report.tc.removed_filters {
                println!("removed cls_bpf filter {filter}");
            }
            for iface in &report.tc.removed_qdiscs {
                println!("removed the clsact qdisc the probe had added to {iface}");
            }
            for note in &report.tc.notes {
                println!("note: {note}");
            }
            Ok(())
        }
        ProbeCommand::Cleanup { json } => {
            let report = workbench_kernel::cleanup::cleanup()?;
            if json {
                return print_json(&report);
            }
            println!(
                "removed {} pinned objects, {} cls_bpf filters, {} clsact qdiscs, {} namespaces, {} links",
                report.removed_pins.len(),
                report.tc.removed_filters.len(),
                report.tc.removed_qdiscs.len(),
                report.removed_namespaces.len(),
                report.removed_links.len()
            );
            for note in &report.tc.notes {
                println!("note: {note}");
            }
            Ok(())
        }
        ProbeCommand::Status { iface, json } => {
            let report = workbench_kernel::models::ProbeModels::open(&iface)?.report()?;
            if json {
                return print_json(&report);
            }
            print!("{}", render_status(&report));
            Ok(())
        }
        ProbeCommand::Flows { iface, json } => {
            let table = flows::read(&iface)?;
            if json {
                return print_json(&table);
            }
            print!("{}", render_flow_table(&table));
            Ok(())
        }
    }
}

/// The models and settings of the probe on one interface, in words.
pub fn render_status(r: &workbench_kernel::models::ModelsReport) -> String {
    use std::fmt::Write;
    let slot = |s: &Option<workbench_kernel::models::SlotInfo>| {
        s.as_ref()
            .map_or_else(|| "none".to_string(), |s| format!("{} ({})", s.model, s.kind))
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "probe on {} ({}), mode {}",
        r.iface,
        match r.attach_mode {
            "tc" => "cls_bpf filters on a clsact qdisc",
            "tcx" => "TCX links",
            other => other,
        },
        r.mode
    );
    let _ = writeln!(out, "  active model:   {}", slot(&r.active));
    let _ = writeln!(out, "  shadow model:   {}", slot(&r.shadow));
    let _ = writeln!(
        out,
        "  previous model: {} (the rollback target)",
        slot(&r.previous)
    );
    let _ = writeln!(
        out,
        "  decides at packets 1-{} of each flow, then {}",
        r.decide_first_packets,
        match r.decide_every {
            0 => "never again".to_string(),
            n => format!("every {n} packets"),
        }
    );
    let _ = writeln!(
        out,
        "  never dropped in enforce mode: {}",
        if r.allowlist.is_empty() {
            "nothing allowlisted".to_string()
        } else {
            r.allowlist.join(", ")
        }
    );
    out
}

/// The flow table as aligned text.
pub fn render_flow_table(table: &flows::FlowTable) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<6} {:>40} {:>40} {:>9} {:>9} {:>11} {:>11} {:>9} {:>5} {:>8}",
        "proto",
        "source",
        "destination",
        "fwd_pkts",
        "bwd_pkts",
        "fwd_bytes",
        "bwd_bytes",
        "verdict",
        "score",
        "model"
    );
    for f in &table.flows {
        // The score as P(malicious), like every other score the workbench shows.
        let score = match (f.verdict, f.probability) {
            ("none", _) => "-".to_string(),
            (_, Some(p)) => format!("{p:.2}"),
            (_, None) => "?".to_string(),
        };
        let _ = writeln!(
            out,
            "{:<6} {:>40} {:>40} {:>9} {:>9} {:>11} {:>11} {:>9} {:>5} {:>8}",
            f.proto,
            format!("{}:{}", f.src, f.src_port),
            format!("{}:{}", f.dst, f.dst_port),
            f.fwd_packets,
            f.bwd_packets,
            f.fwd_bytes,
            f.bwd_bytes,
            f.verdict,
            score,
            f.model.as_deref().unwrap_or("-")
        );
    }
    let stats: Vec<String> = table
        .stats
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(
        out,
        "{} flows on {}; probe statistics: {}",
        table.flows.len(),
        table.iface,
        stats.join(" ")
    );
    out
}
