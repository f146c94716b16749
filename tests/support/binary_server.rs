//! The real `intervene serve` binary as a child process, shared by the test crates
//! that start it (`tests/api`, `tests/crash.rs`); each uses part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Client;

/// The real `intervene serve` binary as a child process, on a port it picks itself
/// (`--bind 127.0.0.1:0`; the port is read from its "listening on" log line).
pub struct BinaryServer {
    pub child: Child,
    pub address: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl BinaryServer {
    pub fn start(data: &Path) -> BinaryServer {
        let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        Self::start_with(data, &rules, Duration::from_secs(15))
    }

    /// Start on `rules`, waiting at most `wait` for the address.
    pub fn start_with(data: &Path, rules: &Path, wait: Duration) -> BinaryServer {
        Self::start_env(data, rules, wait, &[])
    }

    /// [`BinaryServer::start_with`] with extra environment variables (a webhook
    /// secret, `RUST_LOG`).
    pub fn start_env(
        data: &Path,
        rules: &Path,
        wait: Duration,
        vars: &[(&str, &str)],
    ) -> BinaryServer {
        std::fs::create_dir_all(data).expect("create the data directory");
        let mut child = Command::new(env!("CARGO_BIN_EXE_intervene"))
            .arg("serve")
            .arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--data")
            .arg(data)
            .arg("--rules")
            .arg(rules)
            .current_dir(data)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("INTERVENE_BIND")
            .env_remove("INTERVENE_DATA")
            .env_remove("INTERVENE_RULES")
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start intervene serve");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        // Drain stderr for the life of the process (a full pipe would block it).
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = listening_port(&line) {
                    let _ = tx.send(port);
                }
                if let Ok(mut l) = sink.lock() {
                    l.push(line);
                }
            }
        });
        let port = match rx.recv_timeout(wait) {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the server did not report its address in {wait:?}; log:\n{}",
                    log.lock().map(|l| l.join("\n")).unwrap_or_default()
                );
            }
        };
        BinaryServer {
            child,
            address: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Wait until `/healthz` answers 200.
    pub async fn wait_healthy(&self, client: &Client) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = client
                .get(format!("{}/healthz", self.address))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if r.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server not healthy after 10 s; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then wait for a clean exit (at most `within`).
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(&pid)
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the server did not stop within {within:?} of SIGTERM; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl BinaryServer {
    /// SIGKILL: no chance to drain or flush.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().expect("wait");
        assert!(!status.success(), "killed server exited with {status}");
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The port in a line like `... listening on http://127.0.0.1:40123`.
fn listening_port(line: &str) -> Option<u16> {
    let at = line.find("listening on http://")?;
    let rest = &line[at + "listening on http://".len()..];
    let colon = rest.find(':')?;
    let digits: String = rest[colon + 1..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}
