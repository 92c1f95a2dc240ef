//! Servers some tests need besides the host, from Debian's packages
//! (scripts/setup.sh installs them when run as root): Redis and haproxy,
//! each started on loopback for one test and stopped when dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;
use super::tempdir::Dir;

/// A program from `$VAR`, else by name on the PATH; a clear panic when
/// neither runs.
fn spawn(var: &str, program: &str, package: &str, command: impl FnOnce(&mut Command)) -> Child {
    // Debian puts daemons (haproxy) in /usr/sbin, which a user's PATH may lack.
    let program = std::env::var(var).unwrap_or_else(|_| {
        let sbin = format!("/usr/sbin/{program}");
        if std::path::Path::new(&sbin).exists() {
            sbin
        } else {
            program.into()
        }
    });
    let mut c = Command::new(&program);
    command(&mut c);
    c.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot run {program} ({e}): install Debian's `{package}` package \
             (scripts/setup.sh does when run as root), or point {var} at it"
        )
    })
}

/// Waits (at most 10 s) until `ready` holds, failing early if `child` exits.
fn wait_until(child: &mut Child, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited at start ({status})");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not start within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A throwaway Redis: no persistence, its own port and folder.
pub struct Redis {
    child: Child,
    pub port: u16,
    _dir: Dir,
}

impl Redis {
    pub fn start() -> Redis {
        let dir = Dir::new("redis");
        let port = free_port();
        let mut child = spawn("REDIS_SERVER", "redis-server", "redis-server", |c| {
            c.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&dir.0)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        });
        wait_until(&mut child, "redis-server", || {
            redis_command(port, &["PING"]).is_ok_and(|r| r == "+PONG\r\n")
        });
        Redis {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// One command; its raw RESP reply.
    pub fn command(&self, args: &[&str]) -> String {
        redis_command(self.port, args).expect("redis answers")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one command in RESP and reads what comes back within 100 ms of
/// the first bytes (enough for the small replies tests look at).
fn redis_command(port: u16, args: &[&str]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    stream.write_all(req.as_bytes())?;
    let mut reply = vec![0u8; 1 << 16];
    let n = stream.read(&mut reply)?;
    let mut out = reply[..n].to_vec();
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    while let Ok(n) = stream.read(&mut reply) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&reply[..n]);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// haproxy balancing round-robin over replicas on loopback, checking each
/// one's `/readyz` every 200 ms, and retrying a request whose connection
/// failed on another replica (as a production balancer would).
pub struct Haproxy {
    child: Child,
    pub addr: String,
    _dir: Dir,
}

impl Haproxy {
    pub fn start(replica_ports: &[u16]) -> Haproxy {
        let dir = Dir::new("haproxy");
        let port = free_port();
        let servers: String = replica_ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("    server r{i} 127.0.0.1:{p}\n"))
            .collect();
        let config = format!(
            "global\n    maxconn 1024\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 60s\n    \
             timeout server 60s\n    timeout check 1s\n    retries 3\n    option redispatch 1\n    \
             retry-on conn-failure empty-response\n    option http-buffer-request\n\
             frontend front\n    bind 127.0.0.1:{port}\n    default_backend replicas\n\
             backend replicas\n    balance roundrobin\n    option httpchk GET /readyz\n    \
             default-server check inter 200ms fall 1 rise 2\n{servers}"
        );
        let path = dir.0.join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let mut child = spawn("HAPROXY", "haproxy", "haproxy", |c| {
            c.arg("-db")
                .arg("-f")
                .arg(&path)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        });
        let addr = format!("127.0.0.1:{port}");
        wait_until(&mut child, "haproxy", || TcpStream::connect(&addr).is_ok());
        Haproxy {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
