#![allow(clippy::unwrap_used, clippy::expect_used)]
//! How syctl fails: one `error: ` line in plain words and exit 1, whether
//! the control plane is unreachable, refuses the token or the role, or
//! rejects a field (named in the message); usage as a table; command-line
//! mistakes; where the endpoint and token come from; TLS with an extra CA,
//! and client certificates for a control plane that requires them (mTLS).

mod common;

use common::{ADMIN, Cp, VIEWER, syctl};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use switchyard_control::TlsFiles;
use switchyard_ctl::Env;

#[tokio::test]
async fn an_unreachable_control_plane_is_one_line() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let env = Env::new().with("SWITCHYARD_TOKEN", ADMIN);
    let url = format!("http://127.0.0.1:{port}");
    let out = syctl(&env, &["--endpoint", &url, "provider", "list"]).await;
    assert_eq!(out.error(), format!("cannot reach the control plane at {url}: connection refused"));
    let out = syctl(&env.clone().with("SWITCHYARD_ENDPOINT", &url), &["status"]).await;
    assert_eq!(out.error(), format!("cannot reach the control plane at {url}: connection refused"));
    let out = syctl(&env, &["--endpoint", "ftp://x", "status"]).await;
    assert_eq!(out.error(), "invalid endpoint \"ftp://x\": expected http://HOST:PORT or https://HOST:PORT");
}

#[tokio::test]
async fn tokens_and_roles_are_enforced() {
    let cp = Cp::start().await;
    let wrong = cp.run_as("not-a-token-0123456789", &["provider", "list"]).await;
    assert_eq!(wrong.error(), "the token was refused: unknown or revoked admin token");
    assert!(!wrong.stderr.contains("not-a-token"), "the token is never printed");

    let key = cp.file("k", "sk-0123456789");
    let writes: [&[&str]; 5] = [
        &["provider", "add", "p", "--kind", "openai", "--account", "a", "--api-key-file", &key],
        &["key", "create", "k"],
        &["token", "create", "t", "--role", "admin"],
        &["settings", "set", "--max-attempts", "2"],
        &["node", "token", "create", "edge-1"],
    ];
    for args in writes {
        let out = cp.run_as(VIEWER, args).await;
        assert_eq!(
            out.error(),
            "permission denied: token \"ci-viewer\" has role viewer: it can read but not change anything",
            "{args:?}"
        );
    }
    assert!(cp.config().await.providers.is_empty());
    for args in [&["provider", "list"][..], &["settings", "get"], &["export"], &["status"], &["token", "list"]] {
        assert_eq!(cp.run_as(VIEWER, args).await.code, 0, "{args:?}");
    }

    let none = syctl(&Env::new().with("SWITCHYARD_ENDPOINT", "http://127.0.0.1:1"), &["status"]).await;
    assert!(none.error().starts_with("no admin token: give --token-file FILE"), "{none:?}");
}

#[tokio::test]
async fn refusals_name_the_field() {
    let cp = Cp::start().await;
    let key = cp.file("k", "sk-0123456789");
    let azure = cp
        .run(&[
            "provider",
            "add",
            "az",
            "--kind",
            "azure",
            "--base-url",
            "https://x.openai.azure.com",
            "--account",
            "a",
            "--api-key-file",
            &key,
        ])
        .await;
    assert_eq!(azure.error(), "invalid: provider.api_version: required for kind azure");
    let bad_url = cp
        .run(&[
            "provider",
            "add",
            "p",
            "--kind",
            "openai",
            "--base-url",
            "not a url",
            "--account",
            "a",
            "--api-key-file",
            &key,
        ])
        .await;
    assert!(bad_url.error().starts_with("invalid: provider.base_url: invalid URL"), "{bad_url:?}");
    let header = cp
        .run(&[
            "provider",
            "add",
            "p",
            "--kind",
            "openai",
            "--header",
            "Authorization=x",
            "--account",
            "a",
            "--api-key-file",
            &key,
        ])
        .await;
    assert_eq!(
        header.error(),
        "invalid: provider.headers.Authorization: this header is set by the gateway and cannot be overridden"
    );
    let model = cp.run(&["model", "add", "m", "--target", "nope:x"]).await;
    assert_eq!(model.error(), "invalid: route.targets[0].provider: unknown provider \"nope\"");
    let missing = cp.run(&["key", "rm", "nope"]).await;
    assert_eq!(missing.error(), "not found: key \"nope\" does not exist");
    let empty = cp.file("empty", "\n");
    let out = cp.run(&["account", "add", "p", "a", "--api-key-file", &empty]).await;
    assert_eq!(out.error(), format!("cannot read --api-key-file {empty}: the file is empty"));
    let out = cp.run(&["provider", "set", "p", "--connect-timeout", "5"]).await;
    assert!(out.error().starts_with("not found: provider \"p\""), "{out:?}");
    assert_eq!(cp.revision().await, 0, "nothing was written");
}

#[tokio::test]
async fn usage_reads_as_a_table() {
    use switchyard_control::store::{IngestBatch, PricedUsage};
    use switchyard_proto::pb;
    let cp = Cp::start().await;
    let out = cp.run(&["usage", "--by", "key", "--since", "7d"]).await;
    assert_eq!(out.ok().trim(), "no usage in the last 7d");
    // A priced request, and one refused before routing (no model, unpriced).
    let now = switchyard_control::store::now_ms();
    let served = pb::UsageRecord {
        key: "k".into(),
        route: "m".into(),
        provider: "p".into(),
        account: "a".into(),
        started_at_ms: now,
        status: pb::RequestStatus::Ok as i32,
        prompt_tokens: 10,
        latency_us: 1_500,
        ..Default::default()
    };
    let refused = pb::UsageRecord {
        key: "k".into(),
        started_at_ms: now,
        status: pb::RequestStatus::Rejected as i32,
        ..Default::default()
    };
    let batch = IngestBatch {
        node_id: "edge-1".into(),
        boot_id: "boot".into(),
        sequence: 1,
        received_at_ms: now,
        usage: vec![
            PricedUsage { record: served, cost_micros: 1_500_000, currency: "USD".into() },
            PricedUsage { record: refused, cost_micros: 0, currency: String::new() },
        ],
        breakers: vec![],
        heartbeat: None,
        spend: vec![],
        balances: vec![],
        health_events: 0,
    };
    cp.handle.store.ingest(&batch).await.unwrap();
    let out = cp.run(&["usage", "--by", "model"]).await;
    let lines: Vec<Vec<&str>> = out.ok().lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0][0], "MODEL", "{out:?}");
    assert!(lines.contains(&vec!["-", "1", "1", "0", "0", "0", "0", "-", "-", "-", "-"]), "{out:?}");
    assert!(lines.contains(&vec!["m", "1", "0", "10", "0", "0", "0", "1.5", "USD", "1ms", "1ms", "-"]), "{out:?}");
    let out = cp.run(&["usage", "--since", "yesterday"]).await;
    assert!(out.error().starts_with("--since: invalid duration \"yesterday\""), "{out:?}");
}

#[tokio::test]
async fn the_command_line() {
    let env = Env::new();
    let help = syctl(&env, &["--help"]).await;
    assert!(help.ok().contains("Usage: syctl [OPTIONS] <COMMAND>"), "{help:?}");
    assert!(help.stdout.contains("Exit codes: 0 done, 1 error, 2 `diff` found changes."));
    let version = syctl(&env, &["--version"]).await;
    assert!(version.ok().starts_with("syctl "));
    let unknown = syctl(&env, &["frobnicate"]).await;
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.starts_with("error: unrecognized subcommand 'frobnicate'"), "{unknown:?}");
    let nothing = syctl(&env, &[]).await;
    assert_eq!(nothing.code, 1);
    assert!(nothing.stdout.is_empty() && nothing.stderr.contains("Usage: syctl"), "{nothing:?}");
    let bad_flag = syctl(&env, &["key", "create", "k", "--rpm", "lots"]).await;
    assert_eq!(bad_flag.code, 1);
    assert!(bad_flag.stderr.contains("invalid value 'lots' for '--rpm <N>'"), "{bad_flag:?}");

    for (shell, marker) in [("bash", "_syctl()"), ("zsh", "#compdef syctl"), ("fish", "complete -c syctl")] {
        let out = syctl(&env, &["completions", shell]).await;
        assert!(out.ok().contains(marker), "{shell}: {out:?}");
        assert!(out.stdout.contains("provider"), "{shell}");
    }
}

#[tokio::test]
async fn endpoint_and_token_from_the_config_file() {
    let cp = Cp::start().await;
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".config/switchyard");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("admin.token"), format!("{ADMIN}\n")).unwrap();
    std::fs::write(
        config.join("config.toml"),
        format!("endpoint = \"http://{}\"\ntoken_file = \"admin.token\"\n", cp.handle.grpc_addr),
    )
    .unwrap();
    let env = Env::new().with("HOME", home.path().display().to_string());
    assert_eq!(syctl(&env, &["provider", "list"]).await.ok(), "no providers\n");

    // The environment wins over the file, flags over both.
    let viewer_file = home.path().join("viewer.token");
    std::fs::write(&viewer_file, VIEWER).unwrap();
    let env = env.with("SWITCHYARD_TOKEN_FILE", viewer_file.display().to_string());
    let out = syctl(&env, &["key", "create", "k"]).await;
    assert!(out.error().starts_with("permission denied"), "{out:?}");
    let admin_file = home.path().join("admin2.token");
    std::fs::write(&admin_file, ADMIN).unwrap();
    let out = syctl(&env, &["--token-file", &admin_file.display().to_string(), "key", "create", "k"]).await;
    assert!(out.ok().starts_with("key k created"), "{out:?}");
    let out = syctl(&env, &["--endpoint", "http://127.0.0.1:1", "status"]).await;
    assert!(out.error().starts_with("cannot reach the control plane at http://127.0.0.1:1"), "{out:?}");
    let out = syctl(&env, &["--token-file", "/nonexistent/token", "status"]).await;
    assert_eq!(out.error(), "cannot read --token-file /nonexistent/token: no such file");
}

/// A CA, and a certificate and key (PEM) it issued for `names`.
fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(ca: &CertifiedIssuer<'static, KeyPair>, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// PEM files in `dir`: a CA (`ca.pem`) that issued a server certificate for
/// 127.0.0.1 and localhost (`server.pem`, `server.key`) and a client
/// certificate (`client.pem`, `client.key`); another CA's client certificate
/// (`other-client.pem`, `other-client.key`).
fn pki(dir: &std::path::Path) -> TlsFiles {
    let write = |name: &str, pem: String| std::fs::write(dir.join(name), pem).unwrap();
    let ca = ca("syctl test CA");
    write("ca.pem", ca.pem());
    let (cert, key) = leaf(&ca, &["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    write("server.pem", cert);
    write("server.key", key);
    let (cert, key) = leaf(&ca, &["syctl"], ExtendedKeyUsagePurpose::ClientAuth);
    write("client.pem", cert);
    write("client.key", key);
    let (cert, key) = leaf(&self::ca("another CA"), &["syctl"], ExtendedKeyUsagePurpose::ClientAuth);
    write("other-client.pem", cert);
    write("other-client.key", key);
    TlsFiles { cert: dir.join("server.pem"), key: dir.join("server.key"), client_ca: None }
}

#[tokio::test]
async fn https_with_an_extra_ca() {
    let certs = tempfile::tempdir().unwrap();
    let tls = pki(certs.path());
    let cp = Cp::start_with(|o| o.tls = Some(tls)).await;
    let ca = certs.path().join("ca.pem").display().to_string();
    let out = cp.run(&["--ca-file", &ca, "provider", "list"]).await;
    assert_eq!(out.ok(), "no providers\n");
    let out = cp.run_env(&[("SWITCHYARD_CA_FILE", &ca)], &["status"]).await;
    out.ok();
    // Without the CA the server is not trusted: one line, no chain of transport errors.
    let out = cp.run(&["provider", "list"]).await;
    let line = out.error();
    assert!(line.starts_with("cannot reach the control plane at https://127.0.0.1:"), "{line}");
    assert!(line.to_lowercase().contains("certificate"), "{line}");
}

#[tokio::test]
async fn mtls_needs_a_client_certificate_from_the_client_ca() {
    let certs = tempfile::tempdir().unwrap();
    let tls = pki(certs.path());
    let client_ca = Some(certs.path().join("ca.pem"));
    let cp = Cp::start_with(|o| o.tls = Some(TlsFiles { client_ca, ..tls })).await;
    let path = |name: &str| certs.path().join(name).display().to_string();
    let (ca, cert, key) = (path("ca.pem"), path("client.pem"), path("client.key"));
    let url = format!("https://{}", cp.handle.grpc_addr);

    // No client certificate: one line that says which flags give one.
    let out = cp.run(&["--ca-file", &ca, "status"]).await;
    assert_eq!(
        out.error(),
        format!(
            "cannot reach the control plane at {url}: received fatal alert: CertificateRequired \
             (the control plane requires a client certificate: give --client-cert and --client-key)"
        )
    );

    // The client CA's certificate, by flags and by environment.
    let out = cp.run(&["--ca-file", &ca, "--client-cert", &cert, "--client-key", &key, "status"]).await;
    assert!(out.ok().starts_with("config:"), "{out:?}");
    let env = [("SWITCHYARD_CA_FILE", ca.as_str()), ("SWITCHYARD_CLIENT_CERT", &cert), ("SWITCHYARD_CLIENT_KEY", &key)];
    assert_eq!(cp.run_env(&env, &["provider", "list"]).await.ok(), "no providers\n");

    // And from the config file, paths relative to it.
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".config/switchyard");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::copy(certs.path().join("client.pem"), config.join("me.pem")).unwrap();
    std::fs::copy(certs.path().join("client.key"), config.join("me.key")).unwrap();
    std::fs::write(
        config.join("config.toml"),
        format!("ca_file = \"{ca}\"\nclient_cert = \"me.pem\"\nclient_key = \"me.key\"\n"),
    )
    .unwrap();
    let out = cp.run_env(&[("HOME", &home.path().display().to_string())], &["status"]).await;
    assert!(out.ok().starts_with("config:"), "{out:?}");

    // A certificate another CA issued is refused by the server.
    let (other_cert, other_key) = (path("other-client.pem"), path("other-client.key"));
    let out = cp.run(&["--ca-file", &ca, "--client-cert", &other_cert, "--client-key", &other_key, "status"]).await;
    assert_eq!(
        out.error(),
        format!(
            "cannot reach the control plane at {url}: received fatal alert: UnknownCA \
             (the control plane refused the client certificate)"
        )
    );

    // Half a pair is a usage error naming both flags (or both variables), before any connection.
    let out = cp.run(&["--ca-file", &ca, "--client-cert", &cert, "status"]).await;
    assert_eq!(
        out.error(),
        "--client-cert and --client-key go together: --client-key is missing (give both, or neither)"
    );
    let out = cp.run(&["--client-key", &key, "status"]).await;
    assert_eq!(
        out.error(),
        "--client-cert and --client-key go together: --client-cert is missing (give both, or neither)"
    );
    let out = cp.run_env(&[("SWITCHYARD_CLIENT_CERT", &cert)], &["status"]).await;
    assert_eq!(
        out.error(),
        "SWITCHYARD_CLIENT_CERT and SWITCHYARD_CLIENT_KEY go together: SWITCHYARD_CLIENT_KEY is missing \
         (give both, or neither)"
    );

    // Files that are not what they should be: the flag (or variable) and the path, never the content.
    let out = cp.run(&["--ca-file", &ca, "--client-cert", &cert, "--client-key", &cert, "status"]).await;
    assert_eq!(
        out.error(),
        format!(
            "--client-key {cert}: no private key in it (expected PEM: PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
        )
    );
    let garbled = cp.file("garbled.key", "-----BEGIN PRIVATE KEY-----\nsecret-material!!\n-----END PRIVATE KEY-----\n");
    let out = cp.run(&["--ca-file", &ca, "--client-cert", &cert, "--client-key", &garbled, "status"]).await;
    assert_eq!(out.error(), format!("--client-key {garbled}: not a valid PEM private key file"));
    assert!(!out.stderr.contains("secret-material"));
    let env =
        [("SWITCHYARD_CA_FILE", ca.as_str()), ("SWITCHYARD_CLIENT_CERT", &cert), ("SWITCHYARD_CLIENT_KEY", &garbled)];
    let out = cp.run_env(&env, &["status"]).await;
    assert_eq!(out.error(), format!("SWITCHYARD_CLIENT_KEY {garbled}: not a valid PEM private key file"));
    let out = cp.run(&["--ca-file", &ca, "--client-cert", &key, "--client-key", &key, "status"]).await;
    assert!(out.error().starts_with(&format!("--client-cert {key}: no certificate in it")), "{out:?}");
    assert!(!out.stderr.contains("PRIVATE KEY"), "{out:?}");
    let missing = path("missing.pem");
    let out = cp.run(&["--ca-file", &ca, "--client-cert", &missing, "--client-key", &key, "status"]).await;
    assert!(out.error().starts_with(&format!("--client-cert {missing}: cannot read")), "{out:?}");
    // A key that is not the certificate's.
    let out = cp.run(&["--ca-file", &ca, "--client-cert", &cert, "--client-key", &other_key, "status"]).await;
    assert!(out.error().starts_with(&format!("--client-cert {cert} with --client-key {other_key}: ")), "{out:?}");
    assert_eq!(cp.revision().await, 0);
}

#[tokio::test]
async fn client_certificate_flags_are_ignored_over_http() {
    // As --ca-file is: nothing is read for an http:// endpoint.
    let cp = Cp::start().await;
    let args = ["--client-cert", "/nonexistent/c.pem", "--client-key", "/nonexistent/c.key", "provider", "list"];
    assert_eq!(cp.run(&args).await.ok(), "no providers\n");
    let env = [("SWITCHYARD_CLIENT_CERT", "/nonexistent/c.pem"), ("SWITCHYARD_CLIENT_KEY", "/nonexistent/c.key")];
    assert_eq!(cp.run_env(&env, &["provider", "list"]).await.ok(), "no providers\n");
}
