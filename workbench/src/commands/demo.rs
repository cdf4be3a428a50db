//! `workbench demo`: the path on the embedded default, as far as it exists today.
//!
//! With the privileges to load BPF it creates the lab (namespace + veth), attaches the probe to
//! the host end, sends known UDP and TCP traffic from inside the namespace, shows the kernel's
//! flow table, and removes everything it created, also when a step fails.

use color_eyre::eyre::Result;

use super::print_json;
use crate::cli::DemoArgs;
use crate::kernel::{caps, flows, probe};
use crate::lab::{traffic, Lab};

pub fn run(args: DemoArgs) -> Result<()> {
    caps::require_kernel_access("the live demo (lab namespaces and the kernel probe)")?;
    let lab = Lab::create("demo", 250)?;
    eprintln!(
        "demo: lab up: namespace {} with {} ({}) <-> {} ({})",
        lab.netns, lab.peer_if, lab.peer_addr, lab.host_if, lab.host_addr
    );
    let attached = probe::attach(&lab.host_if, &probe::AttachOptions::default())?;
    eprintln!(
        "demo: probe attached to {} (program {}, {} instructions verified)",
        lab.host_if,
        attached.program_id,
        attached.verified_instructions.unwrap_or(0)
    );
    let result = (|| -> Result<flows::FlowTable> {
        let sink = traffic::UdpSink::bind(lab.host_addr, 5353, true)?;
        for (i, port) in (41000u16..41005).enumerate() {
            traffic::udp_from_netns(&lab, port, 5353, &[64 + 32 * i, 128, 512], true)?;
        }
        traffic::tcp_segments_from_netns(&lab, 42000, 80, crate::craft::TCP_SYN, 3)?;
        std::thread::sleep(std::time::Duration::from_millis(200));
        eprintln!("demo: host sink received {} datagrams", sink.received());
        flows::read(&lab.host_if)
    })();
    let detached = probe::detach(&lab.host_if);
    drop(lab);
    let table = result?;
    detached?;
    if args.json {
        return print_json(&table);
    }
    print!("{}", super::probe::render_flow_table(&table));
    eprintln!("demo: probe detached, lab removed");
    Ok(())
}
