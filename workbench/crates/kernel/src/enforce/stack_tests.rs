use super::*;

const LINKS: &str = r#"[
  {"ifindex":1,"ifname":"lo","linkinfo":null},
  {"ifindex":2,"ifname":"eth0","altnames":["enp0s3"]},
  {"ifindex":3,"ifname":"eth1","master":"bond0","linkinfo":{"info_slave_kind":"bond"}},
  {"ifindex":4,"ifname":"bond0","master":"br0","linkinfo":{"info_kind":"bond","info_slave_kind":"bridge"}},
  {"ifindex":5,"ifname":"br0","linkinfo":{"info_kind":"bridge"}},
  {"ifindex":6,"ifname":"ebml-x","link":"ebml-y","master":"br0","linkinfo":{"info_kind":"veth","info_slave_kind":"bridge"}},
  {"ifindex":7,"ifname":"ebml-y","link":"ebml-x","linkinfo":{"info_kind":"veth"}},
  {"ifindex":8,"ifname":"eth0.100","link":"eth0","linkinfo":{"info_kind":"vlan"}},
  {"ifindex":9,"ifname":"vethc","link_index":4,"link_netnsid":0,"linkinfo":{"info_kind":"veth"}},
  {"ifindex":10,"ifname":"dummy0","linkinfo":{"info_kind":"dummy"}}
]"#;

fn default_via(dev: &str, gw: &str) -> Vec<Carrier> {
    parse_routes(
        &format!(r#"[{{"dst":"default","gateway":"{gw}","dev":"{dev}","flags":[]}}]"#),
        Query::Defaults { v6: false },
    )
}

#[test]
fn routes_parse_tables_multipath_and_skip_unreachable() {
    let json = r#"[
      {"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]},
      {"dst":"default","gateway":"10.0.0.1","dev":"br0","table":"100","flags":[]},
      {"type":"unreachable","dst":"default","dev":"lo","table":"200","flags":[]},
      {"type":"blackhole","dst":"default","table":"300","flags":[]},
      {"dst":"default","table":"7","nexthops":[{"gateway":"10.1.0.1","dev":"bond0"},{"gateway":"10.2.0.1","dev":"eth0.100"}]}
    ]"#;
    let c = parse_routes(json, Query::Defaults { v6: false });
    let devs: Vec<&str> = c.iter().map(|c| c.dev.as_str()).collect();
    assert_eq!(devs, ["eth0", "br0", "bond0", "eth0.100"]);
    assert_eq!(c[0].reason.to_string(), "the default route via 192.0.2.1");
    assert_eq!(
        c[1].reason.to_string(),
        "the default route of routing table 100 via 10.0.0.1"
    );
    let get = parse_routes(
        r#"[{"dst":"2606:4700:4700::1111","from":"::","gateway":"fd00::1","dev":"eth0","metric":1024}]"#,
        Query::Lookup {
            dst: "2606:4700:4700::1111",
        },
    );
    assert_eq!(get[0].dev, "eth0");
    assert_eq!(
        get[0].reason.to_string(),
        "the route the kernel picks to 2606:4700:4700::1111 (rules applied) via fd00::1"
    );
    assert!(parse_routes(
        "RTNETLINK answers: Network is unreachable",
        Query::Defaults { v6: true }
    )
    .is_empty());
    assert!(parse_routes("[]", Query::Defaults { v6: true }).is_empty());
}

#[test]
fn proc_routes_parse_the_main_table() {
    let route = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n\
                 eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\n\
                 eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n";
    let v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eth1\n\
              00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
    let c = parse_proc_routes(route, v6);
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].dev, "eth0");
    assert_eq!(c[0].reason.to_string(), "the default route via 10.0.2.1");
    assert_eq!(c[1].dev, "eth1");
}

#[test]
fn links_parse_masters_lowers_and_skip_foreign_peers() {
    let links = parse_links(LINKS);
    let get = |n: &str| links.iter().find(|l| l.name == n).expect("test value").clone();
    assert_eq!(get("ebml-x").master.as_deref(), Some("br0"));
    assert_eq!(get("ebml-x").lowers, ["ebml-y"]);
    assert_eq!(get("eth0.100").lowers, ["eth0"]);
    assert_eq!(get("eth0.100").kind.as_deref(), Some("vlan"));
    assert!(get("vethc").lowers.is_empty());
    assert_eq!(get("eth0").altnames, ["enp0s3"]);
}

#[test]
fn the_simple_case_is_the_carrier_itself() {
    let links = parse_links(LINKS);
    let f = find("eth0", &default_via("eth0", "192.0.2.1"), &links).expect("test value");
    assert!(f.steps.is_empty());
    assert_eq!(f.describe(), "eth0 carries the default route via 192.0.2.1");
    // An altname is the same device.
    assert_eq!(
        find("enp0s3", &default_via("eth0", "192.0.2.1"), &links)
            .expect("test value")
            .iface,
        "eth0"
    );
    // Unrelated devices pass; so does any device when nothing carries a route.
    assert_eq!(find("dummy0", &default_via("eth0", "192.0.2.1"), &links), None);
    assert_eq!(find("vethc", &default_via("eth0", "192.0.2.1"), &links), None);
    assert_eq!(find("eth0", &[], &links), None);
    // A device `ip` does not list is compared by name.
    assert!(find("ghost", &default_via("ghost", "1.2.3.4"), &[]).is_some());
}

#[test]
fn bridge_ports_bond_slaves_and_vlans_are_related() {
    let links = parse_links(LINKS);
    let br = default_via("br0", "10.0.0.1");
    assert_eq!(
        find("ebml-x", &br, &links).expect("test value").describe(),
        "ebml-x is a port of bridge br0, which carries the default route via 10.0.0.1"
    );
    assert_eq!(
        find("eth1", &br, &links).expect("test value").describe(),
        "eth1 is a slave of bond bond0, which is a port of bridge br0, which carries the default route via 10.0.0.1"
    );
    // The veth peer of a bridge port (same namespace) reaches the bridge too.
    assert_eq!(find("ebml-y", &br, &links).expect("test value").steps.len(), 2);
    // The default route on a port: the bridge (upper) and the other ports are refused.
    let on_port = default_via("bond0", "10.0.0.1");
    assert_eq!(
        find("br0", &on_port, &links).expect("test value").describe(),
        "br0 is the bridge that holds port bond0, which carries the default route via 10.0.0.1"
    );
    assert_eq!(
        find("eth1", &on_port, &links).expect("test value").describe(),
        "eth1 is a slave of bond bond0, which carries the default route via 10.0.0.1"
    );
    // VLAN: default via the VLAN device refuses its lower device, and the other way round.
    assert_eq!(
        find("eth0", &default_via("eth0.100", "10.9.0.1"), &links)
            .expect("test value")
            .describe(),
        "eth0 is the lower device of VLAN eth0.100, which carries the default route via 10.9.0.1"
    );
    assert_eq!(
        find("eth0.100", &default_via("eth0", "192.0.2.1"), &links)
            .expect("test value")
            .describe(),
        "eth0.100 is a VLAN device on top of eth0, which carries the default route via 192.0.2.1"
    );
}

#[test]
fn the_main_default_route_is_named_first_and_depth_is_bounded() {
    let mut carriers = parse_routes(
        r#"[{"dst":"1.1.1.1","gateway":"10.0.0.1","dev":"br0"}]"#,
        Query::Lookup { dst: "1.1.1.1" },
    );
    carriers.extend(default_via("br0", "10.0.0.1"));
    let f = find("br0", &carriers, &parse_links(LINKS)).expect("test value");
    assert!(f.carrier.reason.is_main_default());
    // A chain longer than MAX_DEPTH is not followed.
    let chain: Vec<Link> = (0..MAX_DEPTH + 2)
        .map(|i| Link {
            name: format!("d{i}"),
            master: Some(format!("d{}", i + 1)),
            ..Link::default()
        })
        .collect();
    let far = default_via(&format!("d{}", MAX_DEPTH + 1), "10.0.0.1");
    assert_eq!(find("d0", &far, &chain), None);
    assert!(find("d1", &far, &chain).is_some());
}

#[test]
fn sysfs_relations_are_read() {
    let dir = std::env::temp_dir().join(format!("ebml-enforce-sysfs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mk = |p: &str| std::fs::create_dir_all(dir.join(p)).expect("test value");
    let link = |target: &str, at: &str| {
        std::os::unix::fs::symlink(dir.join(target), dir.join(at)).expect("test value");
    };
    for d in [
        "br0/bridge",
        "br0/brif/ebml-x",
        "bond0/bonding",
        "eth1",
        "eth2",
        "ebml-x",
        "eth0",
        "eth0.100",
    ] {
        mk(d);
    }
    std::fs::write(dir.join("bond0/bonding/slaves"), "eth1 eth2\n").expect("test value");
    std::fs::write(dir.join("eth0.100/uevent"), "DEVTYPE=vlan\nINTERFACE=eth0.100\n").expect("test value");
    link("br0", "ebml-x/master");
    link("ebml-x", "br0/lower_ebml-x");
    link("ebml-x", "br0/brif/ebml-x/port");
    link("eth0", "eth0.100/lower_eth0");
    link("eth0.100", "eth0/upper_eth0.100");
    let links = links_from_sysfs(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let get = |n: &str| links.iter().find(|l| l.name == n).expect("test value").clone();
    assert_eq!(get("br0").kind.as_deref(), Some("bridge"));
    assert!(get("br0").lowers.is_empty(), "{:?}", get("br0"));
    assert_eq!(get("ebml-x").master.as_deref(), Some("br0"));
    assert_eq!(get("eth2").master.as_deref(), Some("bond0"));
    assert_eq!(get("eth0.100").lowers, ["eth0"]);
    assert_eq!(
        find("ebml-x", &default_via("br0", "10.0.0.1"), &links)
            .expect("test value")
            .describe(),
        "ebml-x is a port of bridge br0, which carries the default route via 10.0.0.1"
    );
    assert_eq!(
        find("eth2", &default_via("eth1", "10.0.0.1"), &links).expect("test value").describe(),
        "eth2 is a slave of bond bond0, which is the bond over slave eth1, which carries the default route via 10.0.0.1"
    );
    assert_eq!(
        find("eth0", &default_via("eth0.100", "10.0.0.1"), &links)
            .expect("test value")
            .describe(),
        "eth0 is the lower device of VLAN eth0.100, which carries the default route via 10.0.0.1"
    );
}
