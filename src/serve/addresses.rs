//! The base URLs nodes can use to reach the server: `--url`, the listen address, or the host's own IPv4 addresses.

use std::net::{Ipv4Addr, SocketAddr};

/// What `serve` tells the operator to give the nodes: URLs, or why there is none.
pub fn for_nodes(url: Option<&str>, listening: SocketAddr) -> Result<Vec<String>, String> {
    if let Some(url) = url {
        return Ok(vec![format!("{}/", url.trim_end_matches('/'))]);
    }
    let port = listening.port();
    let ip = listening.ip();
    if ip.is_loopback() {
        return Err(format!(
            "only this host can reach {listening}: for nodes, listen on an address they reach \
             (--listen 0.0.0.0:{port}) or give their view of this server with --url"
        ));
    }
    if !ip.is_unspecified() {
        return Ok(vec![format!("http://{}/", SocketAddr::new(ip, port))]);
    }
    let found: Vec<String> = host_ipv4()
        .into_iter()
        .filter(|a| !a.is_loopback() && !a.is_link_local())
        .map(|a| format!("http://{a}:{port}/"))
        .collect();
    if found.is_empty() {
        return Err(
            "this host has no IPv4 address besides loopback: give the nodes' view of this server with --url"
                .to_string(),
        );
    }
    Ok(found)
}

/// The IPv4 addresses of the host's interfaces that are up, in interface order, each once.
fn host_ipv4() -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list freed below with freeifaddrs; every
    // node is read only while the list is alive, and ifa_addr is checked for null and for
    // AF_INET before it is read as a sockaddr_in.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return out;
        }
        let mut node = list;
        while !node.is_null() {
            let ifa = &*node;
            let up = ifa.ifa_flags & libc::IFF_UP as u32 != 0;
            if up
                && !ifa.ifa_addr.is_null()
                && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET
            {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                let addr = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if !out.contains(&addr) {
                    out.push(addr);
                }
            }
            node = ifa.ifa_next;
        }
        libc::freeifaddrs(list);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_wins_then_a_specific_address_then_the_hosts_own() {
        let any: SocketAddr = "0.0.0.0:8000".parse().unwrap();
        assert_eq!(
            for_nodes(Some("http://repo:1/x/"), any).unwrap(),
            ["http://repo:1/x/"]
        );
        let one: SocketAddr = "10.1.2.3:8000".parse().unwrap();
        assert_eq!(for_nodes(None, one).unwrap(), ["http://10.1.2.3:8000/"]);
        let lo: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        assert!(for_nodes(None, lo)
            .unwrap_err()
            .contains("--listen 0.0.0.0:8000"));
        assert!(
            host_ipv4().contains(&Ipv4Addr::LOCALHOST),
            "{:?}",
            host_ipv4()
        );
        match for_nodes(None, any) {
            Ok(urls) => {
                for url in urls {
                    let ip = url.trim_start_matches("http://").trim_end_matches(":8000/");
                    let ip: Ipv4Addr = ip.parse().unwrap();
                    assert!(!ip.is_loopback() && host_ipv4().contains(&ip), "{url}");
                }
            }
            Err(why) => assert!(why.contains("--url"), "{why}"),
        }
    }
}
