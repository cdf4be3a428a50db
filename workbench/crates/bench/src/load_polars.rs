//! The python-polars baseline of `workbench bench load`: `bench/polars_load.py FILE`
//! (`polars.read_csv(path)`, default options) in `bench/.venv`, measured as pandas is (time
//! inside the process around the call, peak RSS of the whole child from `wait4`). pandas is what
//! notebooks use; polars is the fast loader users pick instead, so our figures stand beside
//! both. No target is set against polars (issue 14 item 4 asks for the ratios side by side).

use std::path::Path;
use std::process::Command;

use serde::Deserialize;

use super::child;
use super::figure::Figure;
use super::load::Run;
use super::python;
use crate::error::{err, Error, Result};

pub const BASELINE: &str = "python-polars read_csv";

/// What `polars_load.py` prints.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ScriptOut {
    pub rows: usize,
    pub columns: usize,
    /// Inside the process, around `read_csv`.
    pub read_s: f64,
    pub polars_version: String,
}

/// Reads the script's JSON; a time that is not a positive finite number is refused.
pub fn parse(stdout: &[u8]) -> Result<ScriptOut> {
    let out: ScriptOut = serde_json::from_slice(stdout).map_err(|e| {
        Error::json(
            "polars_load.py printed no JSON object with rows, columns, read_s and polars_version",
            e,
        )
    })?;
    if !(out.read_s.is_finite() && out.read_s > 0.0) {
        return Err(err!(
            Child,
            "polars_load.py reported read_s {}; expected a positive time",
            out.read_s
        ));
    }
    Ok(out)
}

/// Runs `polars.read_csv` on `file` in its own process (pip installs polars when missing).
pub fn run(file: &Path) -> Result<(Run, String)> {
    let b = python::baseline("polars_load.py", &["polars"])?;
    let r = child::checked(Command::new(&b.python).arg(&b.script).arg(file))?;
    let out = parse(&r.stdout)?;
    Ok((
        Run {
            load_s: out.read_s,
            process_s: r.wall_ns as f64 / 1e9,
            process_cpu_s: r.cpu_ns as f64 / 1e9,
            peak_rss_bytes: r.peak_rss_bytes,
            rows: out.rows,
        },
        out.polars_version,
    ))
}

/// Our first load, its memory and our cached reload against polars' `read_csv` (ratio > 1:
/// ours is faster or smaller), and the whole processes' CPU time for context.
pub fn figures(first: &Run, cached: &Run, polars: &Run) -> Vec<Figure> {
    vec![
        Figure::versus(
            "first_load_s_vs_polars",
            first.load_s,
            "s",
            BASELINE,
            polars.load_s,
            false,
        ),
        Figure::versus(
            "first_load_peak_rss_bytes_vs_polars",
            first.peak_rss_bytes as f64,
            "bytes",
            BASELINE,
            polars.peak_rss_bytes as f64,
            false,
        ),
        Figure::versus(
            "cached_reload_s_vs_polars",
            cached.load_s,
            "s",
            BASELINE,
            polars.load_s,
            false,
        ),
        Figure::versus(
            "first_load_process_cpu_s_vs_polars",
            first.process_cpu_s,
            "s",
            &format!("{BASELINE} process"),
            polars.process_cpu_s,
            false,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_of(load_s: f64, peak_rss_bytes: u64, process_cpu_s: f64) -> Run {
        Run {
            load_s,
            process_s: load_s + 0.5,
            process_cpu_s,
            peak_rss_bytes,
            rows: 200_000,
        }
    }

    #[test]
    fn parses_the_scripts_json_and_refuses_what_is_not_a_time() {
        let out = parse(br#"{"rows": 200000, "columns": 79, "read_s": 0.76, "polars_version": "2.1.0"}"#)
            .expect("parses");
        assert_eq!(
            out,
            ScriptOut {
                rows: 200_000,
                columns: 79,
                read_s: 0.76,
                polars_version: "2.1.0".into()
            }
        );
        let e = parse(br#"{"rows": 1, "columns": 1, "read_s": -1.0, "polars_version": "x"}"#)
            .expect_err("negative time");
        assert!(e.to_string().contains("read_s -1"), "{e}");
        let e = parse(b"").expect_err("empty");
        assert!(e.to_string().contains("polars_load.py printed no JSON"), "{e}");
    }

    #[test]
    fn figures_put_polars_beside_pandas_with_ratios_above_one_when_ours_wins() {
        // Ours: 2 s first load at 1 GB, 0.25 s reload; polars: 1 s at 3 GB.
        let first = run_of(2.0, 1 << 30, 4.0);
        let cached = run_of(0.25, 1 << 29, 0.5);
        let polars = run_of(1.0, 3 << 30, 2.0);
        let f = figures(&first, &cached, &polars);
        let got: Vec<(&str, Option<f64>)> = f.iter().map(|f| (f.name.as_str(), f.ratio)).collect();
        assert_eq!(
            got,
            vec![
                ("first_load_s_vs_polars", Some(0.5)),
                ("first_load_peak_rss_bytes_vs_polars", Some(3.0)),
                ("cached_reload_s_vs_polars", Some(4.0)),
                ("first_load_process_cpu_s_vs_polars", Some(0.5)),
            ]
        );
        assert!(f
            .iter()
            .all(|f| f.baseline.as_deref().is_some_and(|b| b.starts_with(BASELINE))));
        assert!(f.iter().all(|f| f.target.is_none()), "no target against polars");
    }
}
