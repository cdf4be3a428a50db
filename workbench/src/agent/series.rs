//! `/metrics` of the agent: the probe's series for each interface (workbench_kernel::metrics,
//! the text `workbench metrics` serves, merged into one exposition) and the agent's own, in the
//! same `workbench_` namespace under `agent_`.

use prometheus::core::Collector;
use prometheus::{Gauge, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use workbench_kernel::metrics;

use super::state::Snapshot;

fn registered<M: Collector + Clone + 'static>(r: &Registry, m: M) -> Result<M, String> {
    r.register(Box::new(m.clone()))
        .map_err(|e| format!("registering a metric: {e}"))?;
    Ok(m)
}

fn bad(e: prometheus::Error) -> String {
    format!("building the agent's metrics: {e}")
}

fn counter(r: &Registry, name: &str, help: &str, v: u64) -> Result<(), String> {
    registered(r, IntCounter::new(name, help).map_err(bad)?)?.inc_by(v);
    Ok(())
}

fn gauge(r: &Registry, name: &str, help: &str, v: i64) -> Result<(), String> {
    registered(r, IntGauge::new(name, help).map_err(bad)?)?.set(v);
    Ok(())
}

/// The whole `/metrics` text, on the HTTP thread: the probe's series read from its maps now
/// (the flow-table walk), the agent's own from the loop's last snapshot.
pub fn render(agent: &Snapshot) -> Result<String, String> {
    let mut groups = Vec::new();
    let r = Registry::new_custom(Some("workbench".into()), None).map_err(bad)?;
    let up = registered(
        &r,
        IntGaugeVec::new(
            Opts::new(
                "agent_interface_up",
                "1 when the probe on the interface feeds the agent and its metrics could be read at this scrape (0: see /readyz and the log)",
            ),
            &["iface"],
        )
        .map_err(bad)?,
    )?;
    for iface in &agent.interfaces {
        match metrics::snapshot(iface).and_then(|s| metrics::registry_of(&s)) {
            Ok(reg) => {
                groups.push(reg.gather());
                let fed = !agent.gone.iter().any(|(i, _)| i == iface);
                up.with_label_values(&[iface.as_str()]).set(i64::from(fed));
            }
            Err(e) => {
                super::log(format!("{iface}: metrics: {e:#}"));
                up.with_label_values(&[iface.as_str()]).set(0);
            }
        }
    }
    let c = &agent.counters;
    counter(
        &r,
        "agent_models_rejected_total",
        "Model files in model_dir that failed validation (the running models untouched)",
        c.models_rejected,
    )?;
    counter(
        &r,
        "agent_shadow_deployments_total",
        "Models from model_dir deployed as the shadow",
        c.shadows_deployed,
    )?;
    counter(
        &r,
        "agent_promotions_total",
        "Shadow models promoted to active by the promotion rule",
        c.promotions,
    )?;
    let reloads = registered(
        &r,
        IntCounterVec::new(
            Opts::new(
                "agent_config_reloads_total",
                "Configuration reloads on SIGHUP, by result (failed: refused, the previous configuration kept)",
            ),
            &["result"],
        )
        .map_err(bad)?,
    )?;
    reloads.with_label_values(&["ok"]).inc_by(c.reloads_ok);
    reloads.with_label_values(&["failed"]).inc_by(c.reloads_failed);
    let (written, failed, (file, socket)) = agent.events;
    for (name, help, counts) in [
        (
            "agent_events_written_total",
            "EVE verdict lines an output took, by output (file, socket)",
            written,
        ),
        (
            "agent_event_write_failures_total",
            "EVE verdict lines an output did not take, by output (file, socket)",
            failed,
        ),
    ] {
        let vec = registered(
            &r,
            IntCounterVec::new(Opts::new(name, help), &["output"]).map_err(bad)?,
        )?;
        if file {
            vec.with_label_values(&["file"]).inc_by(counts.file);
        }
        if socket {
            vec.with_label_values(&["socket"]).inc_by(counts.socket);
        }
    }
    let info = registered(
        &r,
        IntGaugeVec::new(
            Opts::new(
                "agent_info",
                "The agent's configuration (value 1): the configured model and mode",
            ),
            &["model", "mode"],
        )
        .map_err(bad)?,
    )?;
    info.with_label_values(&[agent.model.as_str(), agent.mode]).set(1);
    gauge(
        &r,
        "agent_promote_after_decisions",
        "Decisions a shadow model is judged on before the promotion rule applies",
        agent.promote_after_decisions as i64,
    )?;
    registered(
        &r,
        Gauge::new(
            "agent_promote_max_disagreement_ratio",
            "The largest share of disagreeing decisions a shadow model may have and be promoted",
        )
        .map_err(bad)?,
    )?
    .set(agent.promote_max_disagreement);
    registered(
        &r,
        Gauge::new(
            "agent_promote_max_missed_ratio",
            "The largest share of the active model's malicious decisions a shadow model may call benign and be promoted",
        )
        .map_err(bad)?,
    )?
    .set(agent.promote_max_missed);
    let candidate = registered(
        &r,
        IntGaugeVec::new(
            Opts::new(
                "agent_shadow_candidate_info",
                "The model from model_dir running as shadow (value 1) and its state: evaluating, or held (the rule said no; the log says why)",
            ),
            &["model", "file", "state"],
        )
        .map_err(bad)?,
    )?;
    let mut counts = super::promotion::Counts::default();
    if let Some(c) = &agent.candidate {
        candidate
            .with_label_values(&[
                c.model.as_str(),
                c.file.display().to_string().as_str(),
                c.state.name(),
            ])
            .set(1);
        counts = c.counts;
    }
    gauge(
        &r,
        "agent_shadow_candidate_decisions",
        "Decisions since the current shadow candidate went in (0 without one)",
        counts.evaluations as i64,
    )?;
    gauge(
        &r,
        "agent_shadow_candidate_disagreements",
        "Of them, decisions where the shadow candidate disagreed with the active model",
        counts.disagreements as i64,
    )?;
    gauge(
        &r,
        "agent_shadow_candidate_beside_malicious",
        "Of them, decisions where the active model said malicious",
        counts.beside_malicious as i64,
    )?;
    gauge(
        &r,
        "agent_shadow_candidate_missed",
        "Of those, decisions where the shadow candidate said benign (what a promotion would stop flagging)",
        counts.missed as i64,
    )?;
    groups.push(r.gather());
    metrics::encode_families(&metrics::merge_families(groups)).map_err(|e| format!("{e:#}"))
}
