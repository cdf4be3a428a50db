//! The probe's runtime configuration (one ARRAY map, pinned as `config`): what it does with a
//! verdict (mode), when it decides (decision points), which clock stamps packets; read and written
//! by `deploy`, `verify`, the agent and `probe status`, every write checked first.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use crate::error::{fail, Context, Result};
use shared::abi::{ProbeConfig, CLOCK_COARSE};

use super::PIN_CONFIG;
use crate::{bpffs, sys};

/// What the probe does with a malicious verdict, as `deploy --mode` and the agent's `mode` key
/// name it.
/// `dry-run` is the name shown everywhere (text and JSON, as the flag takes it); `dry_run`, the
/// name JSON used before, is taken too, on the command line and in configuration files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Every packet passes; verdicts are recorded (the default).
    #[default]
    Monitor,
    /// Packets of flows whose active verdict is malicious are dropped.
    Enforce,
    /// Count what enforce would drop (statistic `would_drop`), pass everything.
    #[serde(alias = "dry_run")]
    #[value(alias = "dry_run")]
    DryRun,
}

impl Mode {
    /// The value of [`ProbeConfig::mode`].
    pub fn abi(self) -> u32 {
        match self {
            Mode::Monitor => shared::abi::MODE_MONITOR,
            Mode::Enforce => shared::abi::MODE_ENFORCE,
            Mode::DryRun => shared::abi::MODE_DRY_RUN,
        }
    }
}

/// The clock that stamps packets, as `deploy --clock`, `verify --clock` and the agent's `clock`
/// key name it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Clock {
    // No doc comments on the variants: clap would print them in `--help`.
    #[default]
    Ns,
    Coarse,
}

impl Clock {
    /// The value of [`ProbeConfig::clock`].
    pub fn abi(self) -> u32 {
        match self {
            Clock::Ns => shared::abi::CLOCK_NS,
            Clock::Coarse => CLOCK_COARSE,
        }
    }
}

pub fn clock_name(clock: u32) -> &'static str {
    match clock {
        CLOCK_COARSE => "coarse",
        _ => "ns",
    }
}

pub fn mode_name(mode: u32) -> &'static str {
    match mode {
        shared::abi::MODE_ENFORCE => "enforce",
        shared::abi::MODE_DRY_RUN => "dry-run",
        _ => "monitor",
    }
}

/// The probe's decision points in words, e.g. "packets 1-32, then every 16th" (after "at"):
/// packets 1..=`first` of each flow, then every `every`-th (`shared::flow::is_decision_point`).
pub fn decision_points_words(first: u32, every: u32) -> String {
    match (first, every) {
        (0, 0) => "no packet (the model never decides)".into(),
        (_, 1) => "every packet".into(),
        (0, e) => format!("every {} packet", ordinal(e)),
        (1, 0) => "packet 1 only".into(),
        (f, 0) => format!("packets 1-{f} only"),
        (1, e) => format!("packet 1, then every {}", ordinal(e)),
        (f, e) => format!("packets 1-{f}, then every {}", ordinal(e)),
    }
}

/// 2nd, 3rd, 11th, 16th, 22nd.
fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Refuses decision points at which the probe never decides (`decide_first` and
/// `decide_every` both 0): a model deployed so would score no flow.
pub fn check_decision_points(first: u32, every: u32) -> Result<()> {
    if first == 0 && every == 0 {
        fail!(
            Invalid,
            "--decide-first 0 with --decide-every 0 decides at no packet: the model would never score a flow; \
             give --decide-first N (packets 1-N of each flow) or --decide-every M (every M-th packet) above 0"
        );
    }
    Ok(())
}

fn config_map(iface: &str) -> Result<OwnedFd> {
    let path = bpffs::iface_dir(iface).join(PIN_CONFIG);
    sys::obj_get(&path).context(|| format!("the probe is not attached to {iface}"))
}

pub fn read_config(iface: &str) -> Result<ProbeConfig> {
    read_config_map(config_map(iface)?)
}

/// Writes the probe's configuration on `iface`; enforce mode on the default-route interface is
/// refused unless `policy` allows it ([`crate::enforce`]), and the coarse clock where the probe
/// has none ([`check_clock`]).
pub fn write_config(iface: &str, config: &ProbeConfig, policy: crate::enforce::DefaultRoute) -> Result<()> {
    crate::enforce::check(iface, config.mode, policy)?;
    check_clock(iface, config.clock)?;
    check_decision_points(config.decide_first_packets, config.decide_every)?;
    super::unparsed::check(config.drop_unparsed)?;
    write_config_map(iface, config_map(iface)?, config)
}

/// Whether `config` asks for a clock the probe lacks: on a kernel without BPF atomics
/// (`bpf_atomics`, before 5.12) the loader picks the probe built without the per-flow lock,
/// which is also built without the coarse clock (its helper is 5.11's).
fn clock_unavailable(config: &ProbeConfig, bpf_atomics: bool) -> bool {
    config.clock == CLOCK_COARSE && !bpf_atomics
}

/// Refuses `clock` (a [`ProbeConfig::clock`]) when it is the coarse clock and the probe on this
/// kernel has none (`clock_unavailable`); `iface` names the probe in the message. Every writer
/// of the configuration goes through [`write_config`], which calls this; `deploy` also calls it
/// before it changes anything else, as it does [`crate::enforce::check`].
pub fn check_clock(iface: &str, clock: u32) -> Result<()> {
    let config = ProbeConfig {
        clock,
        ..ProbeConfig::default()
    };
    // Probing for atomics loads a program: asked only when the coarse clock is.
    let atomics = clock != CLOCK_COARSE || crate::features::bpf_atomics();
    if clock_unavailable(&config, atomics) {
        fail!(
            Unsupported,
            "{iface}: no coarse clock on this kernel ({}): it runs the probe built for kernels before 5.12 (no BPF atomics), which has only the ns clock",
            crate::features::kernel_release()
        );
    }
    Ok(())
}

/// The configuration of the probe whose maps are pinned in `dir`.
pub fn read_config_at(dir: &Path) -> Result<ProbeConfig> {
    read_config_map(sys::obj_get(&dir.join(PIN_CONFIG))?)
}

fn read_config_map(fd: OwnedFd) -> Result<ProbeConfig> {
    let size = value_bytes(&fd)?;
    // The kernel writes the map's whole value: a newer probe's may be longer than ours.
    let mut buf = vec![0u8; size.max(CONFIG_BYTES)];
    sys::map_lookup(
        fd.as_fd(),
        &0u32.to_ne_bytes(),
        &mut buf,
        "reading the probe configuration",
    )?;
    // A word an older probe's map lacks reads 0, which is what that probe does: the ns clock,
    // no unparsed frame dropped.
    let word = |i: usize| match buf.get(4 * i..4 * i + 4) {
        Some(w) if 4 * i + 4 <= size => u32::from_ne_bytes([w[0], w[1], w[2], w[3]]),
        _ => 0,
    };
    Ok(ProbeConfig {
        mode: word(0),
        decide_first_packets: word(1),
        decide_every: word(2),
        record_packets: word(3),
        clock: word(4),
        drop_unparsed: word(5),
    })
}

/// This build's configuration: 24 bytes. A probe attached by an older workbench has 16 (no
/// clock) or 20 (no unparsed-frame policy).
const CONFIG_BYTES: usize = std::mem::size_of::<ProbeConfig>();

/// The value size of the attached probe's configuration map.
fn value_bytes(fd: &OwnedFd) -> Result<usize> {
    Ok(sys::map_shape(fd.as_fd())?[2] as usize)
}

/// The size of the configuration of the probe attached to `iface`: this build's
/// (`size_of::<ProbeConfig>()`), or an older or newer workbench's.
pub fn config_bytes(iface: &str) -> Result<usize> {
    value_bytes(&config_map(iface)?)
}

/// Writes `config` as the attached probe's map holds it: a probe attached by an older workbench
/// has a shorter value, and a setting it has no room for is refused rather than dropped (the
/// kernel would read only the map's size and ignore the rest); a newer probe's longer value is
/// refused (its later settings would be zeroed).
fn write_config_map(iface: &str, fd: OwnedFd, config: &ProbeConfig) -> Result<()> {
    let buf = encode_for(iface, value_bytes(&fd)?, config)?;
    sys::map_update(
        fd.as_fd(),
        &0u32.to_ne_bytes(),
        &buf,
        "writing the probe configuration",
    )
}

/// Refuses `config` where the probe attached to `iface` has no room for a setting it asks for
/// (attached by an older workbench), before anything changes: `deploy` asks before a slot
/// change, so that a refused setting leaves the models as they were.
pub fn check_fits(iface: &str, config: &ProbeConfig) -> Result<()> {
    encode_for(iface, config_bytes(iface)?, config).map(drop)
}

/// `config` as a map of `size` bytes per value holds it (see [`write_config_map`]).
fn encode_for(iface: &str, size: usize, config: &ProbeConfig) -> Result<Vec<u8>> {
    if size > CONFIG_BYTES {
        fail!(
            State,
            "{iface}: the probe there was attached by a newer workbench (a {size}-byte configuration; this \
             one knows {CONFIG_BYTES}): change it with that workbench, or detach it and attach it with this one"
        );
    }
    let words = [
        (config.mode, "mode"),
        (config.decide_first_packets, "decision points"),
        (config.decide_every, "decision points"),
        (config.record_packets, "record mode"),
        (config.clock, "--clock coarse"),
        (
            config.drop_unparsed,
            "--drop-unparsed (a policy for frames it cannot read)",
        ),
    ];
    let mut buf = Vec::with_capacity(size);
    for (i, (w, what)) in words.into_iter().enumerate() {
        if 4 * i + 4 <= size {
            buf.extend_from_slice(&w.to_ne_bytes());
        } else if w != 0 {
            fail!(
                State,
                "{iface}: the probe there was attached by an older workbench and has no {what}: detach it \
                 (`workbench probe detach --iface {iface}`) and attach it again to use it"
            );
        }
    }
    buf.resize(size, 0);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration map of `bytes` per value, as a probe of another workbench has it; None
    /// without the rights to make one (not root: the CI runs as root).
    fn config_map_of(bytes: u32) -> Option<OwnedFd> {
        match sys::map_create(sys::BPF_MAP_TYPE_ARRAY, 4, bytes, 1, None, "ebml_cfg_test") {
            Ok(fd) => Some(fd),
            Err(e) => {
                eprintln!("skipped: cannot create a BPF map here ({e})");
                None
            }
        }
    }

    fn dup(fd: &OwnedFd) -> OwnedFd {
        fd.try_clone().expect("dup")
    }

    /// A probe attached by an older workbench has a shorter configuration: what it lacks reads
    /// as what it does (the ns clock, nothing dropped), a write that keeps to what it has goes
    /// through, and a setting it has no room for is refused by name instead of being silently
    /// cut off by the kernel (which reads only the map's value size). A newer probe's longer
    /// configuration is read, and never written over.
    #[test]
    fn a_probe_of_another_workbench_gets_only_the_settings_it_has_room_for() {
        let Some(twenty) = config_map_of(20) else { return };
        let old = ProbeConfig {
            clock: CLOCK_COARSE,
            drop_unparsed: 0,
            ..ProbeConfig::default()
        };
        write_config_map("ebml-old", dup(&twenty), &old).expect("what the older probe has");
        assert_eq!(read_config_map(dup(&twenty)).expect("read"), old);
        let err = write_config_map("ebml-old", dup(&twenty), &ProbeConfig::default())
            .expect_err("no room for the policy")
            .to_string();
        assert!(
            err.contains("older workbench")
                && err.contains("--drop-unparsed")
                && err.contains("probe detach"),
            "{err}"
        );
        assert_eq!(
            read_config_map(dup(&twenty)).expect("read"),
            old,
            "unchanged by the refusal"
        );

        let sixteen = config_map_of(16).expect("a map");
        let err = write_config_map("ebml-old", dup(&sixteen), &old)
            .expect_err("no room for the clock")
            .to_string();
        assert!(err.contains("--clock coarse"), "{err}");
        let plain = ProbeConfig {
            drop_unparsed: 0,
            ..ProbeConfig::default()
        };
        write_config_map("ebml-old", dup(&sixteen), &plain).expect("what the oldest probe has");
        assert_eq!(read_config_map(dup(&sixteen)).expect("read"), plain);

        let newer = config_map_of(32).expect("a map");
        let mut bytes = [0u8; 32];
        bytes[0] = 1; // enforce
        bytes[28] = 7; // a setting this build does not know
        sys::map_update(newer.as_fd(), &0u32.to_ne_bytes(), &bytes, "seed").expect("seed");
        assert_eq!(read_config_map(dup(&newer)).expect("read").mode, 1);
        let err = write_config_map("ebml-new", dup(&newer), &plain)
            .expect_err("a newer probe's settings are not zeroed")
            .to_string();
        assert!(err.contains("newer workbench"), "{err}");
    }

    #[test]
    fn decision_points_read_right_at_zero() {
        assert_eq!(decision_points_words(32, 16), "packets 1-32, then every 16th");
        assert_eq!(decision_points_words(0, 16), "every 16th packet");
        assert_eq!(decision_points_words(8, 2), "packets 1-8, then every 2nd");
        assert_eq!(decision_points_words(0, 3), "every 3rd packet");
        assert_eq!(decision_points_words(4, 12), "packets 1-4, then every 12th");
        assert_eq!(decision_points_words(4, 22), "packets 1-4, then every 22nd");
        assert_eq!(decision_points_words(0, 1), "every packet");
        assert_eq!(decision_points_words(8, 0), "packets 1-8 only");
        assert_eq!(decision_points_words(1, 0), "packet 1 only");
        assert!(!decision_points_words(0, 16).contains("1-0"));
        assert!(decision_points_words(0, 0).contains("never"));
        let err = check_decision_points(0, 0)
            .expect_err("never decides")
            .to_string();
        assert!(
            err.contains("never score") && err.contains("--decide-every"),
            "{err}"
        );
        check_decision_points(0, 16).expect("every 16th packet decides");
        check_decision_points(8, 0).expect("packets 1-8 decide");
    }

    #[test]
    fn dry_run_reads_as_the_flag_takes_it_and_both_spellings_parse() {
        use clap::ValueEnum;
        #[derive(serde::Deserialize)]
        struct T {
            mode: Mode,
        }
        assert_eq!(mode_name(shared::abi::MODE_DRY_RUN), "dry-run");
        assert_eq!(Mode::from_str("dry-run", false), Ok(Mode::DryRun));
        assert_eq!(Mode::from_str("dry_run", false), Ok(Mode::DryRun));
        for v in ["dry-run", "dry_run"] {
            let t: T = serde_json::from_str(&format!("{{\"mode\":\"{v}\"}}")).expect(v);
            assert_eq!(t.mode, Mode::DryRun);
        }
    }

    #[test]
    fn the_coarse_clock_is_refused_only_without_bpf_atomics() {
        let coarse = ProbeConfig {
            clock: CLOCK_COARSE,
            ..ProbeConfig::default()
        };
        let ns = ProbeConfig::default();
        assert!(clock_unavailable(&coarse, false));
        assert!(!clock_unavailable(&coarse, true));
        assert!(!clock_unavailable(&ns, false));
        assert!(!clock_unavailable(&ns, true));
        // The ns clock never asks the kernel (no program load), so this holds unprivileged too.
        check_clock("ebml-x", ns.clock).expect("the ns clock is always there");
    }
}
