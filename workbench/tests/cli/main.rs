//! The command-line and library tests: everything that runs without the kernel, in one test binary
//! (after trippy's `tests/sim/main.rs` and bottom's `tests/integration/main.rs`).

#[path = "../common/mod.rs"]
mod common;
#[path = "../featkit/mod.rs"]
mod featkit;

mod agent_check_start;
mod agent_config;
mod bench_all;
mod bench_train;
mod broken_pipe;
mod capture_handmade;
mod capture_reader;
mod cli_help;
mod cli_validation;
mod config_cli;
mod demo_simulated;
mod deploy_files;
mod eval_cli;
mod eval_table;
mod eve_events;
mod export_c;
mod features_errors;
mod features_labels;
mod features_progress;
mod features_table;
mod first_user_errors;
mod fuzz_parsers;
mod fuzz_regressions;
mod gen_pcaps;
mod gen_pcaps_vlan;
mod inspect_data;
mod inspect_inputs;
mod kernel_lab_ids;
mod metrics_format;
mod model_file_integrity;
mod newcomer_errors;
mod newcomer_metrics;
mod newcomer_scores;
mod own_csv;
mod pitfalls_json;
mod readme_path;
mod repeated_header;
mod sample_honesty;
mod sec_parse_lengths;
mod sec_tmp_paths;
mod train_cost;
mod train_datasets;
mod train_errors;
mod train_honest;
mod train_quality;
mod tui_cost;
mod tui_datasets;
mod tui_eval;
mod tui_outputs;
mod tui_panic;
mod tui_screens;
mod tui_sim;
mod tui_tabs;
mod tui_whole_items;
mod tuikit;
mod typed_errors;
