//! Which control plane and which token: flags first (`--endpoint`,
//! `--token-file`, `--ca-file`, `--client-cert`/`--client-key`), then the
//! environment (`SWITCHYARD_ENDPOINT`, `SWITCHYARD_TOKEN` (the token itself)
//! or `SWITCHYARD_TOKEN_FILE`, `SWITCHYARD_CA_FILE`,
//! `SWITCHYARD_CLIENT_CERT`/`SWITCHYARD_CLIENT_KEY`), then
//! `$XDG_CONFIG_HOME/switchyard/config.toml` (else
//! `~/.config/switchyard/config.toml`: `endpoint`, `token_file`, `ca_file`,
//! `client_cert`/`client_key`), then the default endpoint
//! `http://127.0.0.1:50051`. A client certificate and its key are a pair:
//! both come from the first of those that names either.

use crate::cli::Cli;
use crate::error::Error;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:50051";

/// The environment a command runs in: the process's, or one a test gives.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment (variables that are not UTF-8 are left out).
    pub fn process() -> Self {
        let vars = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Self { vars: vars.collect() }
    }

    /// An empty environment.
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// A variable; an empty one counts as unset.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn vars(&self) -> &HashMap<String, String> {
        &self.vars
    }
}

/// The connection flags given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub endpoint: Option<String>,
    pub token_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub allow_insecure: bool,
}

impl From<&Cli> for Flags {
    fn from(cli: &Cli) -> Self {
        Self {
            endpoint: cli.endpoint.clone(),
            token_file: cli.token_file.clone(),
            ca_file: cli.ca_file.clone(),
            client_cert: cli.client_cert.clone(),
            client_key: cli.client_key.clone(),
            allow_insecure: cli.allow_insecure,
        }
    }
}

/// Where to connect and with what.
pub struct Target {
    pub endpoint: String,
    pub token: String,
    pub ca_file: Option<PathBuf>,
    /// A client certificate to present to an `https://` endpoint (mTLS).
    pub client: Option<ClientCert>,
    /// `--allow-insecure` (or `SWITCHYARD_ALLOW_INSECURE`): `http://` to a host that is not loopback is allowed.
    pub allow_insecure: bool,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("endpoint", &self.endpoint)
            .field("ca_file", &self.ca_file)
            .field("client", &self.client)
            .field("allow_insecure", &self.allow_insecure)
            .finish()
    }
}

/// A client certificate and its private key: paths only (read when connecting
/// over TLS), each with where it was named (`--client-key`,
/// `SWITCHYARD_CLIENT_KEY`, `client_key in FILE`) for errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub cert_from: String,
    pub key_from: String,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    endpoint: Option<String>,
    token_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
}

/// The config file's path: `$XDG_CONFIG_HOME/switchyard/config.toml`, else `$HOME/.config/...`.
pub fn config_path(env: &Env) -> Option<PathBuf> {
    let base = match env.var("XDG_CONFIG_HOME").map(PathBuf::from).filter(|p| p.is_absolute()) {
        Some(dir) => dir,
        None => PathBuf::from(env.var("HOME")?).join(".config"),
    };
    Some(base.join("switchyard").join("config.toml"))
}

fn read_config(env: &Env) -> Result<(FileConfig, PathBuf), Error> {
    let Some(path) = config_path(env) else { return Ok((FileConfig::default(), PathBuf::new())) };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((FileConfig::default(), path)),
        Err(e) => {
            return Err(Error::Usage(format!(
                "cannot read {}: {}",
                path.display(),
                switchyard_proto::document::io_reason(&e)
            )));
        }
    };
    let config: FileConfig = toml::from_str(&text).map_err(|e| {
        let message = e.message().to_owned();
        Error::Usage(format!("{}: {message}", path.display()))
    })?;
    Ok((config, path))
}

/// A path from the config file: `~/` is the home folder, relative paths are from the file's folder.
fn config_relative(path: &Path, config: &Path, env: &Env) -> PathBuf {
    if let (Ok(rest), Some(home)) = (path.strip_prefix("~"), env.var("HOME")) {
        return Path::new(home).join(rest);
    }
    match config.parent() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_owned(),
    }
}

/// The endpoint, token, CA and client certificate to use, by precedence.
pub fn resolve(flags: &Flags, env: &Env) -> Result<Target, Error> {
    let (file, config) = read_config(env)?;
    let client = client_cert(flags, env, &file, &config)?;
    let endpoint = flags
        .endpoint
        .clone()
        .or_else(|| env.var("SWITCHYARD_ENDPOINT").map(str::to_owned))
        .or(file.endpoint)
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
    let ca_file = flags
        .ca_file
        .clone()
        .or_else(|| env.var("SWITCHYARD_CA_FILE").map(PathBuf::from))
        .or_else(|| file.ca_file.map(|p| config_relative(&p, &config, env)));
    let token = if let Some(path) = &flags.token_file {
        read_token(path, "--token-file")?
    } else if let Some(token) = env.var("SWITCHYARD_TOKEN") {
        token.trim().to_owned()
    } else if let Some(path) = env.var("SWITCHYARD_TOKEN_FILE") {
        read_token(Path::new(path), "SWITCHYARD_TOKEN_FILE")?
    } else if let Some(path) = file.token_file {
        read_token(&config_relative(&path, &config, env), &format!("token_file in {}", config.display()))?
    } else {
        return Err(Error::Usage(
            "no admin token: give --token-file FILE, set SWITCHYARD_TOKEN or SWITCHYARD_TOKEN_FILE, \
             or set token_file in ~/.config/switchyard/config.toml"
                .into(),
        ));
    };
    if token.is_empty() {
        return Err(Error::Usage("the admin token is empty".into()));
    }
    let allow_insecure = flags.allow_insecure
        || env
            .var("SWITCHYARD_ALLOW_INSECURE")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"));
    Ok(Target { endpoint, token, ca_file, client, allow_insecure })
}

/// The client certificate and key: from the flags, else the environment, else
/// the config file; whichever names one must name both.
fn client_cert(flags: &Flags, env: &Env, file: &FileConfig, config: &Path) -> Result<Option<ClientCert>, Error> {
    let from_file = |path: &Option<PathBuf>| path.as_ref().map(|p| config_relative(p, config, env));
    // (cert, key, their names, where the names are, how errors name each)
    let sources = [
        (flags.client_cert.clone(), flags.client_key.clone(), ["--client-cert", "--client-key"], None),
        (
            env.var("SWITCHYARD_CLIENT_CERT").map(PathBuf::from),
            env.var("SWITCHYARD_CLIENT_KEY").map(PathBuf::from),
            ["SWITCHYARD_CLIENT_CERT", "SWITCHYARD_CLIENT_KEY"],
            None,
        ),
        (from_file(&file.client_cert), from_file(&file.client_key), ["client_cert", "client_key"], Some(config)),
    ];
    for (cert, key, [cert_name, key_name], in_file) in sources {
        let named = |name: &str| match in_file {
            Some(config) => format!("{name} in {}", config.display()),
            None => name.to_owned(),
        };
        match (cert, key) {
            (Some(cert), Some(key)) => {
                return Ok(Some(ClientCert { cert, key, cert_from: named(cert_name), key_from: named(key_name) }));
            }
            (None, None) => {}
            (cert, _) => {
                let missing = if cert.is_some() { key_name } else { cert_name };
                let place = in_file.map(|config| format!("{}: ", config.display())).unwrap_or_default();
                return Err(Error::Usage(format!(
                    "{place}{cert_name} and {key_name} go together: {missing} is missing (give both, or neither)"
                )));
            }
        }
    }
    Ok(None)
}

fn read_token(path: &Path, what: &str) -> Result<String, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Usage(format!("cannot read {what} {}: {}", path.display(), switchyard_proto::document::io_reason(&e)))
    })?;
    Ok(text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("switchyard");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(cfg.join("config.toml"), "endpoint = \"http://cfg:1\"\ntoken_file = \"tok\"\n").unwrap();
        std::fs::write(cfg.join("tok"), "from-config-file-0001\n").unwrap();
        let env = Env::new().with("XDG_CONFIG_HOME", dir.path().display().to_string());
        let t = resolve(&Flags::default(), &env).unwrap();
        assert_eq!((t.endpoint.as_str(), t.token.as_str()), ("http://cfg:1", "from-config-file-0001"));

        let env = env.with("SWITCHYARD_ENDPOINT", "http://env:2").with("SWITCHYARD_TOKEN", "from-env-token-0002");
        let t = resolve(&Flags::default(), &env).unwrap();
        assert_eq!((t.endpoint.as_str(), t.token.as_str()), ("http://env:2", "from-env-token-0002"));

        std::fs::write(dir.path().join("flag-tok"), "from-flag-token-0003").unwrap();
        let flags = Flags {
            endpoint: Some("http://flag:3".into()),
            token_file: Some(dir.path().join("flag-tok")),
            ..Flags::default()
        };
        let t = resolve(&flags, &env).unwrap();
        assert_eq!((t.endpoint.as_str(), t.token.as_str()), ("http://flag:3", "from-flag-token-0003"));
        assert!(!format!("{t:?}").contains("from-flag"), "Debug never shows the token");

        assert!(!t.allow_insecure);
        let t = resolve(&Flags { allow_insecure: true, ..flags.clone() }, &env).unwrap();
        assert!(t.allow_insecure, "--allow-insecure");
        let t = resolve(&flags, &env.clone().with("SWITCHYARD_ALLOW_INSECURE", "1")).unwrap();
        assert!(t.allow_insecure, "SWITCHYARD_ALLOW_INSECURE=1");

        let none = resolve(&Flags::default(), &Env::new()).unwrap_err();
        assert!(none.to_string().starts_with("no admin token"), "{none}");
        assert_eq!(
            config_path(&Env::new().with("HOME", "/home/u")),
            Some("/home/u/.config/switchyard/config.toml".into())
        );
    }

    #[test]
    fn client_certificate_pairs_by_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("switchyard");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(cfg.join("config.toml"), "client_cert = \"c.pem\"\nclient_key = \"/abs/c.key\"\n").unwrap();
        let env = Env::new().with("XDG_CONFIG_HOME", dir.path().display().to_string()).with("SWITCHYARD_TOKEN", "t");
        let config = cfg.join("config.toml").display().to_string();
        let client = |flags: &Flags, env: &Env| resolve(flags, env).map(|t| t.client);

        let c = client(&Flags::default(), &env).unwrap().unwrap();
        assert_eq!((c.cert, c.key), (cfg.join("c.pem"), PathBuf::from("/abs/c.key")));
        assert_eq!(c.key_from, format!("client_key in {config}"));

        let env = env.with("SWITCHYARD_CLIENT_CERT", "/env/c.pem").with("SWITCHYARD_CLIENT_KEY", "/env/c.key");
        let c = client(&Flags::default(), &env).unwrap().unwrap();
        assert_eq!((c.cert.to_str(), c.key.to_str()), (Some("/env/c.pem"), Some("/env/c.key")));
        assert_eq!((c.cert_from.as_str(), c.key_from.as_str()), ("SWITCHYARD_CLIENT_CERT", "SWITCHYARD_CLIENT_KEY"));

        let flags = Flags { client_cert: Some("f.pem".into()), client_key: Some("f.key".into()), ..Flags::default() };
        let c = client(&flags, &env).unwrap().unwrap();
        assert_eq!((c.cert.to_str(), c.key.to_str()), (Some("f.pem"), Some("f.key")));
        assert_eq!(c.cert_from, "--client-cert");

        // A pair comes from one place: half of one is an error, not a mix with the next.
        let half = Flags { client_cert: Some("f.pem".into()), ..Flags::default() };
        let e = client(&half, &env).unwrap_err().to_string();
        assert_eq!(e, "--client-cert and --client-key go together: --client-key is missing (give both, or neither)");
        let e = client(&Flags::default(), &Env::new().with("SWITCHYARD_TOKEN", "t").with("SWITCHYARD_CLIENT_KEY", "k"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "SWITCHYARD_CLIENT_CERT and SWITCHYARD_CLIENT_KEY go together: SWITCHYARD_CLIENT_CERT is missing \
             (give both, or neither)"
        );
        std::fs::write(cfg.join("config.toml"), "client_key = \"c.key\"\n").unwrap();
        let env = Env::new().with("XDG_CONFIG_HOME", dir.path().display().to_string()).with("SWITCHYARD_TOKEN", "t");
        let e = client(&Flags::default(), &env).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{config}: client_cert and client_key go together: client_cert is missing (give both, or neither)")
        );
        assert_eq!(client(&Flags::default(), &Env::new().with("SWITCHYARD_TOKEN", "t")).unwrap(), None);
    }

    #[test]
    fn bad_config_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("switchyard")).unwrap();
        std::fs::write(dir.path().join("switchyard/config.toml"), "endpoint = 1\ntokn = 2\n").unwrap();
        let env = Env::new().with("XDG_CONFIG_HOME", dir.path().display().to_string());
        let e = resolve(&Flags::default(), &env).unwrap_err().to_string();
        assert!(e.contains("config.toml"), "{e}");
    }
}
