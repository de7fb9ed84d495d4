//! Runs the real binary: ephemeral ports, a private data directory, captured JSON logs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};

use crate::client::{HttpClient, Reply};

/// The admin token every harness-started proxy accepts.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// How to start the proxy.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Upstream origin (usually the emulator's `base_url()`).
    pub upstream_base_url: String,
    /// Extra `BINDING_PROXY__…` settings.
    pub env: Vec<(String, String)>,
    /// Log level (`log.level`).
    pub log_level: String,
}

impl ProxyOptions {
    /// Options for an upstream at `upstream_base_url`, logging at info.
    pub fn new(upstream_base_url: impl Into<String>) -> Self {
        Self {
            upstream_base_url: upstream_base_url.into(),
            env: Vec::new(),
            log_level: "info".into(),
        }
    }

    /// Adds a setting, e.g. `("shutdown.grace_secs", "5")`.
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        let name = format!("BINDING_PROXY__{}", key.replace('.', "__").to_uppercase());
        self.env.push((name, value.into()));
        self
    }
}

/// A running `binding-proxy serve` process. Killed on drop.
#[derive(Debug)]
pub struct ProxyProcess {
    child: Child,
    /// Data-plane address.
    pub dataplane: SocketAddr,
    /// Admin API address.
    pub admin: SocketAddr,
    dir: tempfile::TempDir,
    logs: Arc<RwLock<Vec<String>>>,
    /// Bumped after each line is added to `logs`.
    printed: Arc<watch::Sender<usize>>,
    http: HttpClient,
}

impl ProxyProcess {
    /// Starts `bin serve` and waits until both listeners are up (panics after 60 s).
    pub async fn start(bin: &Path, options: ProxyOptions) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let digest = hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            ADMIN_TOKEN.as_bytes(),
        ));
        let db = dir.path().join("store.db");
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BINDING_PROXY__DATAPLANE__LISTEN", "127.0.0.1:0")
            .env("BINDING_PROXY__ADMIN__LISTEN", "127.0.0.1:0")
            .env(
                "BINDING_PROXY__UPSTREAM__BASE_URL",
                &options.upstream_base_url,
            )
            .env("BINDING_PROXY__ADMIN__TOKEN_SHA256", digest)
            .env(
                "BINDING_PROXY__STORE__URL",
                format!("sqlite://{}", db.display()),
            )
            .env(
                "BINDING_PROXY__CRYPTO__MASTER_KEY_FILE",
                dir.path().join("master.key"),
            )
            // The emulator's test routes (`/v2/_emulator/...`) are in no default scope.
            .env("BINDING_PROXY__SCOPES__ACCOUNT", "balance,_emulator")
            .env("BINDING_PROXY__LOG__FORMAT", "json")
            .env("BINDING_PROXY__LOG__LEVEL", &options.log_level)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in &options.env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawn the binding-proxy binary");
        let logs = Arc::new(RwLock::new(Vec::new()));
        let printed = Arc::new(watch::Sender::new(0_usize));
        let (addr_tx, mut addr_rx) = mpsc::unbounded_channel();
        let stderr = child.stderr.take().expect("piped stderr");
        let stdout = child.stdout.take().expect("piped stdout");
        for (stream, is_stderr) in [
            (
                Box::new(stderr) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                true,
            ),
            (Box::new(stdout), false),
        ] {
            let logs = logs.clone();
            let printed = Arc::clone(&printed);
            let addr_tx = addr_tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if is_stderr
                        && let Ok(v) = serde_json::from_str::<Value>(&line)
                        && v["message"] == "listening"
                    {
                        let _ = addr_tx.send((
                            v["listener"].as_str().unwrap_or_default().to_owned(),
                            v["addr"].as_str().unwrap_or_default().to_owned(),
                        ));
                    }
                    logs.write().expect("log lock").push(line);
                    printed.send_modify(|count| *count += 1);
                }
            });
        }
        drop(addr_tx);
        let (mut dataplane, mut admin) = (None, None);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while dataplane.is_none() || admin.is_none() {
            match tokio::time::timeout_at(deadline, addr_rx.recv()).await {
                Ok(Some((listener, addr))) => {
                    let addr: SocketAddr = addr.parse().expect("a socket address in the log");
                    match listener.as_str() {
                        "dataplane" => dataplane = Some(addr),
                        "admin" => admin = Some(addr),
                        _ => {}
                    }
                }
                _ => {
                    let status = child.try_wait().ok().flatten();
                    let logs = logs.read().expect("log lock").join("\n");
                    panic!("binding-proxy did not start (exit: {status:?}); output:\n{logs}");
                }
            }
        }
        Self {
            child,
            dataplane: dataplane.expect("dataplane address"),
            admin: admin.expect("admin address"),
            dir,
            logs,
            printed,
            http: HttpClient::new(),
        }
    }

    /// `TELNYX_BASE_URL` for functions: the data plane plus the default prefix.
    pub fn base_url(&self) -> String {
        format!(
            "http://{}/v2/compute/internal/binding-proxy",
            self.dataplane
        )
    }

    /// The admin API origin.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin)
    }

    /// The directory holding the store file and the master key.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The SQLite store file.
    pub fn store_file(&self) -> PathBuf {
        self.dir.path().join("store.db")
    }

    /// The master key file.
    pub fn master_key_file(&self) -> PathBuf {
        self.dir.path().join("master.key")
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the proxy is running")
    }

    /// Resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc status")
    }

    /// Sends a signal by name (`TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit (panics after `limit`).
    pub async fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .expect("the proxy exits in time")
            .expect("wait for the proxy")
    }

    /// Every line the process printed so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.read().expect("log lock").clone()
    }

    /// The first line the process printed (so far, or within `limit`) that `matches`. Lines
    /// reach the harness a little after the process writes them: this awaits each new one
    /// instead of sleeping. Panics with the whole output when none matches in time.
    pub async fn wait_for_log(&self, limit: Duration, matches: impl Fn(&str) -> bool) -> String {
        let mut printed = self.printed.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(line) = self.logs().into_iter().find(|line| matches(line)) {
                return line;
            }
            if !matches!(
                tokio::time::timeout_at(deadline, printed.changed()).await,
                Ok(Ok(()))
            ) {
                panic!(
                    "no log line matched within {limit:?}; output:\n{}",
                    self.logs().join("\n")
                );
            }
        }
    }

    /// Calls the admin API with the harness admin token.
    pub async fn admin_call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let url = format!("{}{path}", self.admin_url());
        let auth = format!("Bearer {ADMIN_TOKEN}");
        match body {
            Some(json) => {
                let bytes = Bytes::from(serde_json::to_vec(&json).expect("json"));
                self.http
                    .send(
                        method,
                        &url,
                        &[
                            ("authorization", &auth),
                            ("content-type", "application/json"),
                        ],
                        bytes,
                    )
                    .await
            }
            None => {
                self.http
                    .send(method, &url, &[("authorization", &auth)], Bytes::new())
                    .await
            }
        }
    }

    /// Creates a binding and returns its JSON (panics unless 201).
    pub async fn create_binding(&self, org_id: &str, api_key: &str) -> Value {
        let reply = self
            .admin_call(
                Method::POST,
                "/v1/bindings",
                Some(serde_json::json!({ "org_id": org_id, "api_key": api_key })),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "create binding: {reply:?}"
        );
        reply.json()["data"].clone()
    }

    /// Mints a token with `body` (e.g. `{"function_id": "f"}`) and returns the `data` object.
    pub async fn mint(&self, org_id: &str, body: Value) -> Value {
        let reply = self
            .admin_call(
                Method::POST,
                &format!("/v1/bindings/{org_id}/tokens"),
                Some(body),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "mint token: {reply:?}");
        reply.json()["data"].clone()
    }

    /// Mints a default token and returns just the JWT.
    pub async fn token(&self, org_id: &str) -> String {
        self.mint(org_id, serde_json::json!({})).await["token"]
            .as_str()
            .expect("token string")
            .to_owned()
    }
}
