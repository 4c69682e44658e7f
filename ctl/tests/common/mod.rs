//! A control plane started in-process on ephemeral ports, and `syctl`
//! command lines run against it through the library entry point.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use switchyard_control::store::Role;
use switchyard_control::{ControlPlane, Handle, Options};
use switchyard_ctl::Env;

pub const MASTER_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
pub const ADMIN: &str = "admin-token-0123456789";
pub const VIEWER: &str = "viewer-token-0123456789";
pub const NODE_TOKEN: &str = "node-token-0123456789";

pub struct Cp {
    pub handle: Handle,
    pub dir: tempfile::TempDir,
    /// Endpoint and admin token, as a user's environment would give them.
    pub env: Env,
}

/// What one command did.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Stdout of a command that must have succeeded.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:?}");
        assert!(self.stderr.is_empty(), "nothing on stderr: {self:?}");
        &self.stdout
    }

    /// The one JSON document a successful `-o json` command printed.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    /// The single `error: ...` line of a failed command.
    #[track_caller]
    pub fn error(&self) -> &str {
        assert_eq!(self.code, 1, "expected a failure: {self:?}");
        assert!(self.stdout.is_empty(), "nothing on stdout: {self:?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {:?}", self.stderr);
        lines[0].strip_prefix("error: ").unwrap_or_else(|| panic!("starts with `error: `: {:?}", self.stderr))
    }
}

/// The value of `field:` in a `field:  value` listing.
#[track_caller]
pub fn field<'a>(text: &'a str, name: &str) -> &'a str {
    let prefix = format!("{name}:");
    let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no {name}: in {text}"));
    line[prefix.len()..].trim()
}

pub async fn syctl(env: &Env, args: &[&str]) -> Out {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("syctl".to_owned()).chain(args.iter().map(|a| (*a).to_owned()));
    let code = switchyard_ctl::run(argv, env, &mut out, &mut err).await;
    Out { code, stdout: String::from_utf8(out).unwrap(), stderr: String::from_utf8(err).unwrap() }
}

impl Cp {
    pub async fn start() -> Cp {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(edit: impl FnOnce(&mut Options)) -> Cp {
        let dir = tempfile::tempdir().unwrap();
        let mut options = Options::new(format!("sqlite://{}/cp.db", dir.path().display()), MASTER_KEY);
        options.http_listen = "127.0.0.1:0".parse().unwrap();
        options.grpc_listen = "127.0.0.1:0".parse().unwrap();
        options.admin_token = Some(ADMIN.to_owned());
        options.node_token = Some(NODE_TOKEN.to_owned());
        edit(&mut options);
        let https = options.tls.is_some();
        let handle = ControlPlane::start(options).await.unwrap();
        handle.store.put_admin_token("ci-viewer", Role::Viewer, VIEWER).await.unwrap();
        let scheme = if https { "https" } else { "http" };
        let env = Env::new()
            .with("SWITCHYARD_ENDPOINT", format!("{scheme}://{}", handle.grpc_addr))
            .with("SWITCHYARD_TOKEN", ADMIN);
        Cp { handle, dir, env }
    }

    /// Runs `syctl ARGS` as the admin.
    pub async fn run(&self, args: &[&str]) -> Out {
        syctl(&self.env, args).await
    }

    /// Runs `syctl ARGS` with another token.
    pub async fn run_as(&self, token: &str, args: &[&str]) -> Out {
        syctl(&self.env.clone().with("SWITCHYARD_TOKEN", token), args).await
    }

    /// Runs `syctl ARGS` with extra environment variables.
    pub async fn run_env(&self, vars: &[(&str, &str)], args: &[&str]) -> Out {
        let mut env = self.env.clone();
        for (k, v) in vars {
            env = env.with(*k, *v);
        }
        syctl(&env, args).await
    }

    /// Writes a file into the test's folder; returns its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    pub async fn revision(&self) -> u64 {
        self.handle.store.revision().await.unwrap()
    }

    pub async fn config(&self) -> switchyard_proto::model::Config {
        self.handle.store.load().await.unwrap().1
    }
}
