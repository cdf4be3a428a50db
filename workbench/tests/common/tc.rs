//! Helpers for the classic tc path's tests: what `tc` shows on an interface, and filters that
//! "someone else" put there (the probe object's empty program, loaded privately and attached at
//! a priority and handle the test chooses), which the project must never remove.

use std::path::PathBuf;
use std::process::Command;

use aya::programs::tc::{NlOptions, TcAttachOptions};
use aya::programs::{SchedClassifier, TcAttachType};
use workbench_kernel::probe;

/// `tc ARGS` (inside `netns` when given); its standard output.
pub fn tc(netns: Option<&str>, args: &[&str]) -> String {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "tc"]);
            c
        }
        None => Command::new("tc"),
    };
    let out = cmd.args(args).output().expect("tc (iproute2) runs");
    assert!(
        out.status.success(),
        "tc {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The filter lines of one hook (`ingress` or `egress`) that carry a handle.
pub fn filters(netns: Option<&str>, iface: &str, hook: &str) -> Vec<String> {
    tc(netns, &["filter", "show", "dev", iface, hook])
        .lines()
        .filter(|l| l.contains(" handle "))
        .map(str::to_string)
        .collect()
}

/// Whether the interface has a clsact qdisc.
pub fn has_clsact(netns: Option<&str>, iface: &str) -> bool {
    tc(netns, &["qdisc", "show", "dev", iface])
        .lines()
        .any(|l| l.starts_with("qdisc clsact ffff:"))
}

/// Whether the kernel still has program `id` (`bpftool prog show id N`).
pub fn program_exists(id: u64) -> bool {
    Command::new("bpftool")
        .args(["prog", "show", "id", &id.to_string()])
        .output()
        .expect("bpftool runs")
        .status
        .success()
}

/// Another party's cls_bpf filters: the probe object's empty program, loaded privately (its maps
/// pinned outside the project's directory, removed on drop) and attached through aya as plain
/// netlink filters. The filters hold the program; they go with their interface.
pub struct Foreign {
    dir: PathBuf,
    pub program_id: u32,
    loaded: Option<probe::LoadedProbe>,
}

impl Foreign {
    pub fn load(tag: &str) -> Foreign {
        workbench_kernel::bpffs::ensure_mounted().expect("bpffs");
        let dir = PathBuf::from(format!(
            "/sys/fs/bpf/ebml-test-foreign-{tag}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("private pin directory");
        let mut loaded = probe::load(&dir, &probe::AttachOptions::default()).expect("load the probe object");
        let empty: &mut SchedClassifier = loaded
            .ebpf
            .program_mut("workbench_empty")
            .expect("the object has the empty program")
            .try_into()
            .expect("a classifier");
        empty.load().expect("the verifier accepts the empty program");
        let program_id = empty.info().expect("program info").id();
        Foreign {
            dir,
            program_id,
            loaded: Some(loaded),
        }
    }

    /// Attaches the empty program to `iface` (inside `netns` when given) at `hook` with the
    /// priority and handle given; the filter outlives this value.
    pub fn attach(
        &mut self,
        netns: Option<&str>,
        iface: &str,
        hook: TcAttachType,
        priority: u16,
        handle: u32,
    ) {
        let loaded = self.loaded.as_mut().expect("loaded");
        let empty: &mut SchedClassifier = loaded
            .ebpf
            .program_mut("workbench_empty")
            .expect("empty program")
            .try_into()
            .expect("a classifier");
        let mut attach = || {
            let id = empty
                .attach_with_options(
                    iface,
                    hook,
                    TcAttachOptions::Netlink(NlOptions { priority, handle }),
                )
                .expect("attach the foreign filter");
            // Dropping the link would delete the filter: it belongs to "someone else".
            std::mem::forget(empty.take_link(id).expect("take the link"));
        };
        match netns {
            Some(ns) => workbench_kernel::lab::netns::run_in(ns, attach).expect("enter the namespace"),
            None => attach(),
        }
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        drop(self.loaded.take());
        let _ = probe::PinGuard::new(self.dir.clone()).remove();
        let _ = std::fs::remove_dir(&self.dir);
    }
}
