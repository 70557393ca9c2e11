//! What the end-to-end tests share: one line per check, commands on the booted hosts, and a cluster's project folder with its `kubedeb serve`.

use crate::harness::bin;
use crate::nspawn::{Host, Lab};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Prints one line per check and fails the test at the end when any failed.
pub struct Checks {
    name: &'static str,
    failed: Vec<String>,
    passed: usize,
    started: Instant,
}

impl Checks {
    pub fn new(name: &'static str) -> Checks {
        say(&format!("# {name}"));
        Checks {
            name,
            failed: Vec::new(),
            passed: 0,
            started: Instant::now(),
        }
    }

    pub fn check(&mut self, what: &str, result: Result<(), String>) -> bool {
        match result {
            Ok(()) => {
                say(&format!("ok - {what}"));
                self.passed += 1;
                true
            }
            Err(detail) => {
                say(&format!(
                    "FAIL - {what}: {}",
                    detail.trim_end().replace('\n', "\n#   ")
                ));
                self.failed.push(what.to_string());
                false
            }
        }
    }

    /// A check later steps depend on: stop here when it fails.
    pub fn require(&mut self, what: &str, result: Result<(), String>) {
        if !self.check(what, result) {
            self.finish();
        }
    }

    pub fn finish(&self) {
        say(&format!(
            "# {}: {} checks ok, {} failed, {:.0?}",
            self.name,
            self.passed,
            self.failed.len(),
            self.started.elapsed()
        ));
        assert!(
            self.failed.is_empty(),
            "{}: failed checks: {:?}",
            self.name,
            self.failed
        );
    }
}

/// Writes past the test harness's capture, so CI logs show each check as it happens.
pub fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

pub fn ensure(cond: bool, detail: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(detail())
    }
}

/// Runs `script` on `host` and turns a non-zero exit into the check's detail.
pub fn on(host: &Host, script: &str) -> Result<String, String> {
    let r = host.sh(script);
    if r.ok() {
        Ok(r.stdout)
    } else {
        Err(format!(
            "`{script}` on {} exited {}: {}{}",
            host.name, r.code, r.stdout, r.stderr
        ))
    }
}

/// Polls `script` on `host` until it exits 0 or `secs` pass.
pub fn eventually(host: &Host, secs: u64, script: &str) -> Result<String, String> {
    retry(secs, || on(host, script))
}

/// Calls `attempt` every half second until it is Ok or `secs` pass; the last error says why.
pub fn retry<T>(secs: u64, mut attempt: impl FnMut() -> Result<T, String>) -> Result<T, String> {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        match attempt() {
            Ok(out) => return Ok(out),
            Err(e) if Instant::now() > end => return Err(format!("after {secs} s: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// Runs the test machine's `program args` in `host`'s network namespace ([`Host::net`]): its
/// stdout, or a non-zero exit as the check's detail.
pub fn outside(host: &Host, program: &str, args: &[&str]) -> Result<String, String> {
    let out = host
        .net(program, args)
        .output()
        .map_err(|e| format!("cannot run nsenter {program}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "`{program} {}` in the network of {} exited {}: {stdout}{}",
            args.join(" "),
            host.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

pub fn copy_into(root: &Path, from: &Path, to: &str) {
    let dest = root.join(to.trim_start_matches('/'));
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(from, &dest)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), dest.display()));
}

/// docker0's IPv4 address and MTU on `host`.
pub fn docker0(host: &Host) -> Result<(String, u32), String> {
    let addr = on(host, "ip -4 -o addr show dev docker0 | awk '{print $4}'")?;
    let mtu = on(host, "cat /sys/class/net/docker0/mtu")?;
    Ok((
        addr.trim().to_string(),
        mtu.trim()
            .parse()
            .map_err(|e| format!("mtu {mtu:?}: {e}"))?,
    ))
}

/// Starts a container from an image made of the host's own sleep and libc (the hosts reach
/// no registry) and returns its address and then docker0's (address, MTU): the bridge takes
/// the MTU Docker gives its ports only once a container is attached.
pub fn docker_container_on_bridge(host: &Host) -> Result<(String, (String, u32)), String> {
    on(
        host,
        "docker rm -f e2e-probe >/dev/null 2>&1 || true\n\
         if ! docker image inspect e2e-tiny >/dev/null 2>&1; then\n\
           d=$(mktemp -d) && mkdir -p $d/bin $d/lib/x86_64-linux-gnu $d/lib64\n\
           cp /bin/sleep $d/bin/ && cp /lib/x86_64-linux-gnu/libc.so.6 $d/lib/x86_64-linux-gnu/\n\
           cp /lib64/ld-linux-x86-64.so.2 $d/lib64/ && tar -C $d -c . | docker import - e2e-tiny >/dev/null\n\
           rm -rf $d\n\
         fi\n\
         docker run -d --name e2e-probe e2e-tiny /bin/sleep infinity >/dev/null",
    )?;
    let ip = on(
        host,
        "docker inspect -f '{{.NetworkSettings.IPAddress}}' e2e-probe",
    )?;
    let bridge = docker0(host);
    let _ = on(host, "docker rm -f e2e-probe");
    Ok((ip.trim().to_string(), bridge?))
}

pub fn env_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        l.strip_prefix(&format!("{key}="))
            .map(|v| v.trim_matches('"').to_string())
    })
}

/// Whether `addr` (a.b.c.d/len) lies inside `subnet` (a.b.c.d/len).
pub fn inside(addr: &str, subnet: &str) -> bool {
    let parse = |s: &str| -> Option<(u32, u32)> {
        let (ip, len) = s.split_once('/')?;
        let ip: std::net::Ipv4Addr = ip.parse().ok()?;
        Some((u32::from(ip), len.parse().ok()?))
    };
    match (parse(addr), parse(subnet)) {
        (Some((a, _)), Some((s, len))) if len <= 32 => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            a & mask == s & mask
        }
        _ => false,
    }
}

/// One cluster: its project folder (cluster.toml, cache, dist, repo) and the server of its repository.
pub struct Cluster {
    pub name: &'static str,
    dir: tempfile::TempDir,
    /// The lab host at `master_ip`.
    pub master: &'static str,
    pub master_ip: std::net::Ipv4Addr,
    port: u16,
    release: Release,
    server: Option<std::process::Child>,
}

/// The release tarballs a cluster's packages are built from: `kubedeb up --from DIR --catalog FILE`.
pub struct Release {
    pub from: std::path::PathBuf,
    pub catalog: std::path::PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
    }
}

/// `kubedeb <args>` in `dir`: its output, or what failed, as a check's detail.
pub fn kubedeb(dir: &Path, args: &[&str]) -> Result<String, String> {
    let run = bin::kubedeb_at(dir, args);
    let text = format!("{}{}", run.stdout, run.stderr);
    if run.ok() {
        Ok(text)
    } else {
        Err(format!(
            "kubedeb {} exited {}: {text}",
            args.join(" "),
            run.status
        ))
    }
}

impl Cluster {
    pub fn new(
        name: &'static str,
        master: &'static str,
        master_ip: std::net::Ipv4Addr,
        port: u16,
        release: impl FnOnce(&Path) -> Release,
    ) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix(&format!("kubedeb-e2e-{name}-"))
            .tempdir()
            .unwrap();
        let release = release(dir.path());
        Cluster {
            name,
            dir,
            master,
            master_ip,
            port,
            release,
            server: None,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Sets `key = value` in cluster.toml (the line of that key, which `kubedeb init` writes).
    pub fn set(&self, key: &str, value: &str) {
        let file = self.path().join("cluster.toml");
        let text = std::fs::read_to_string(&file).unwrap();
        let mut found = false;
        let out: Vec<String> = text
            .lines()
            .map(|l| {
                if l.split('=').next().map(str::trim) == Some(key) && !found {
                    found = true;
                    format!("{key} = {value}")
                } else {
                    l.to_string()
                }
            })
            .collect();
        assert!(found, "cluster.toml has no line for {key}");
        std::fs::write(&file, out.join("\n") + "\n").unwrap();
    }

    /// Sets `key = value` in the `[section]` of cluster.toml; appends the section or the key
    /// when `kubedeb init` did not write them.
    pub fn set_in(&self, section: &str, key: &str, value: &str) {
        let file = self.path().join("cluster.toml");
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let header = format!("[{section}]");
        let line = format!("{key} = {value}");
        match lines.iter().position(|l| l.trim() == header) {
            None => {
                lines.push(String::new());
                lines.push(header);
                lines.push(line);
            }
            Some(start) => {
                let end = lines[start + 1..]
                    .iter()
                    .position(|l| l.trim_start().starts_with('['))
                    .map_or(lines.len(), |i| start + 1 + i);
                match (start + 1..end)
                    .find(|&i| lines[i].split('=').next().map(str::trim) == Some(key))
                {
                    Some(i) => lines[i] = line,
                    None => lines.insert(start + 1, line),
                }
            }
        }
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    }

    pub fn up(&self) -> Result<String, String> {
        let from = self.release.from.to_string_lossy();
        let catalog = self.release.catalog.to_string_lossy();
        kubedeb(self.path(), &["up", "--from", &from, "--catalog", &catalog])
    }

    pub fn url(&self, lab: &Lab) -> String {
        format!("http://{}:{}", lab.gateway, self.port)
    }

    /// `kubedeb serve` on the bridge's address, in the bridge's network namespace.
    pub fn serve(&mut self, lab: &Lab) -> Result<(), String> {
        let log = std::fs::File::create(self.path().join("serve.log")).unwrap();
        let child = lab
            .in_bridge_netns(Path::new(bin::KUBEDEB))
            .args([
                "serve",
                "--listen",
                &format!("{}:{}", lab.gateway, self.port),
            ])
            .current_dir(self.path())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start kubedeb serve: {e}"))?;
        self.server = Some(child);
        Ok(())
    }
}

/// A `<pre id="...">` block of the index page, as text.
pub fn page_block(page: &str, id: &str) -> Option<String> {
    let start = page.find(&format!("<pre id=\"{id}\">"))? + format!("<pre id=\"{id}\">").len();
    let end = start + page[start..].find("</pre>")?;
    Some(
        page[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&amp;", "&"),
    )
}

/// Files that apt, dpkg, Docker and the journal change by themselves are left out.
pub const LISTING: &str =
    "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp \
     -o -path /var/tmp -o -path /var/log -o -path /var/cache -o -path /var/lib/apt/lists \
     -o -path /var/lib/docker -o -path /var/lib/containerd \\) -prune -o -print | sort";

pub fn units_of(host: &Host, packages: &[&str]) -> Result<Vec<String>, String> {
    let out = on(
        host,
        &format!(
            "dpkg-query -L {} | grep -E '^/lib/systemd/system/[^/]+\\.service$' | xargs -n1 basename | sort -u",
            packages.join(" ")
        ),
    )?;
    Ok(out.lines().map(String::from).collect())
}

/// The command line of a unit's main process, one word per element.
pub fn cmdline(host: &Host, unit: &str) -> Result<Vec<String>, String> {
    let out = on(
        host,
        &format!("tr '\\0' '\\n' < /proc/$(systemctl show -p MainPID --value {unit})/cmdline"),
    )?;
    Ok(out.lines().map(String::from).collect())
}

pub fn fingerprints(host: &Host) -> Result<String, String> {
    on(
        host,
        "for f in ca.crt server.cert kubecfg.crt; do openssl x509 -noout -fingerprint -sha256 -in /srv/kubernetes/$f; done",
    )
}

/// The variable naming the folder of real release tarballs and images.
pub const REAL: &str = "KUBEDEB_REAL";
