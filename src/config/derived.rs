//! Defaults computed from the host: the node id and the advertised address.
//!
//! The rules are pure functions of their inputs; the thin wrappers that read
//! the host (hostname, interface list) send no traffic.

use std::net::{IpAddr, Ipv4Addr};

/// Hostname used when neither the kernel nor `HOSTNAME` gives one.
const FALLBACK_HOSTNAME: &str = "shoal";

/// The first non-empty of the kernel's hostname and `$HOSTNAME`, else `shoal`.
pub(crate) fn pick_hostname(kernel: Option<String>, env: Option<String>) -> String {
    [kernel, env]
        .into_iter()
        .flatten()
        .map(|name| name.trim().to_string())
        .find(|name| !name.is_empty())
        .unwrap_or_else(|| FALLBACK_HOSTNAME.to_string())
}

/// This host's name, from `/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `shoal`.
pub(crate) fn hostname() -> String {
    pick_hostname(std::fs::read_to_string("/proc/sys/kernel/hostname").ok(), std::env::var("HOSTNAME").ok())
}

/// The default node id: `<hostname>-<client port>`.
pub(crate) fn node_id(hostname: &str, client_port: u16) -> String {
    format!("{hostname}-{client_port}")
}

/// The default advertised address: `bind` if it is a concrete address, else
/// the first non-loopback, non-link-local IPv4 address among `interfaces`,
/// else `127.0.0.1`.
pub(crate) fn advertise_addr(bind: IpAddr, interfaces: impl IntoIterator<Item = IpAddr>) -> IpAddr {
    if !bind.is_unspecified() {
        return bind;
    }
    interfaces
        .into_iter()
        .find(|ip| match ip {
            IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified(),
            IpAddr::V6(_) => false,
        })
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Addresses of this host's interfaces, in the order the OS lists them
/// (empty if they cannot be read).
pub(crate) fn interface_addrs() -> Vec<IpAddr> {
    if_addrs::get_if_addrs().map(|list| list.iter().map(|iface| iface.ip()).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn hostname_prefers_kernel_then_env_then_fallback() {
        let some = |s: &str| Some(s.to_string());
        assert_eq!(pick_hostname(some("box\n"), some("env")), "box");
        assert_eq!(pick_hostname(some(" \n"), some("env")), "env");
        assert_eq!(pick_hostname(None, some("env")), "env");
        assert_eq!(pick_hostname(None, some("")), "shoal");
        assert_eq!(pick_hostname(None, None), "shoal");
        assert!(!hostname().is_empty());
    }

    #[test]
    fn node_id_is_host_and_port() {
        assert_eq!(node_id("box", 6380), "box-6380");
    }

    #[test]
    fn advertise_addr_rules() {
        let ifaces =
            [ip("127.0.0.1"), ip("::1"), ip("169.254.1.1"), ip("fe80::1"), ip("10.1.2.3"), ip("10.9.9.9")];
        assert_eq!(advertise_addr(ip("192.168.0.5"), ifaces), ip("192.168.0.5"));
        assert_eq!(advertise_addr(ip("127.0.0.1"), ifaces), ip("127.0.0.1"));
        assert_eq!(advertise_addr(ip("::1"), ifaces), ip("::1"));
        assert_eq!(advertise_addr(ip("0.0.0.0"), ifaces), ip("10.1.2.3"));
        assert_eq!(advertise_addr(ip("::"), ifaces), ip("10.1.2.3"));
        assert_eq!(advertise_addr(ip("0.0.0.0"), [ip("127.0.0.1")]), ip("127.0.0.1"));
        assert_eq!(advertise_addr(ip("0.0.0.0"), []), ip("127.0.0.1"));
    }
}
