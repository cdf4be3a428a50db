//! A model trained in the TUI's Train tab (the same background job the tab runs) goes into the
//! kernel through the Deploy tab's action and decides there exactly as the userspace twin does
//! (issue 18 item 6).

use crate::common::{lab_id, report, workbench_json, LabCleanup, TempDir};
use workbench_data::dataset::LoadOptions;
use workbench_tui::jobs;
use workbench_tui::source::{Control, KernelSource, Source};
use workbench_tui::state::train::Finished;

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn a_model_trained_in_the_tui_is_deployed_into_the_kernel_and_matches_the_twin() {
    crate::common::require_kernel(
        "a_model_trained_in_the_tui_is_deployed_into_the_kernel_and_matches_the_twin",
    );
    let dir = TempDir::new("tui-trained");
    workbench_flow::gen::write_all(dir.path(), workbench_flow::gen::DEFAULT_SEED).expect("gen");
    let honest = dir.path().join("honest.pcap");
    let options = LoadOptions {
        no_cache: true,
        ..LoadOptions::default()
    };
    // What the Data tab's load and the Train tab's `t` run, with the tab's default form.
    let (sets, errors) = jobs::load_in(
        std::slice::from_ref(&honest),
        &options,
        &dir.path().join("work"),
        &|_, _| {},
    );
    assert!(errors.is_empty(), "{errors:?}");
    let trained = match jobs::train(
        &sets[0],
        &Default::default(),
        &dir.path().join("models"),
        &|_, _| {},
    )
    .expect("train in the TUI's job")
    {
        Finished::Kernel(r) => r,
        Finished::Dataset(d) => panic!("a dataset-feature result: {}", d.report.model_id),
    };

    // The Deploy tab's confirmed action on the real probe.
    let lab = lab_id("tt");
    let _cleanup = LabCleanup::new(&lab);
    let (ns, iface) = (format!("ebml-{lab}"), format!("ebml-{lab}b"));
    workbench_json(&["lab", "up", "--id", &lab, "--json"]);
    workbench_json(&["probe", "attach", "--iface", &iface, "--netns", &ns, "--json"]);
    let mut source = KernelSource::new(&iface);
    let line = source
        .control(&Control::DeployModel {
            path: trained.model_path.clone(),
            shadow: false,
        })
        .expect("deploy from the Deploy tab");
    assert!(line.contains(&trained.report.model_id), "{line}");
    let status = workbench_json(&["probe", "status", "--iface", &iface, "--json"]);
    assert_eq!(status["active"]["model"], trained.report.model_id.as_str());
    let snapshot = source.poll().expect("poll the kernel");
    let active = snapshot.models.and_then(|m| m.active).map(|a| a.model);
    assert_eq!(
        active.as_deref(),
        Some(trained.report.model_id.as_str()),
        "the tab shows it"
    );

    // The same file decides in the kernel exactly as in userspace, flow by flow.
    let model = trained.model_path.to_str().expect("utf-8");
    let verify_lab = lab_id("tv");
    let _verify_cleanup = LabCleanup::new(&verify_lab);
    let v = workbench_json(&[
        "verify",
        honest.to_str().expect("utf-8"),
        "--model",
        model,
        "--lab-id",
        &verify_lab,
        "--json",
    ]);
    let (flows, identical) = (v["flows"].as_u64(), v["identical"].as_u64());
    assert_eq!(identical, flows, "{v:#}");
    assert_eq!(flows, Some(1_860), "every flow of the honest sample");
    assert!(v["malicious_flows"].as_u64().is_some_and(|n| n > 0), "{v:#}");
    report(&format!(
        "TUI-trained model {} deployed from the Deploy tab; verify: {} of {} flows identical, {} malicious",
        trained.report.model_id,
        identical.unwrap_or(0),
        flows.unwrap_or(0),
        v["malicious_flows"]
    ));
}
