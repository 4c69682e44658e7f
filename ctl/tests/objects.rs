#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Imperative commands against a real control plane: providers, accounts,
//! models, keys, tokens and settings; each parsed, called, printed as a
//! table and as JSON. Edits are read-modify-write, so a stored secret
//! survives a `set` that does not give it again.

mod common;

use common::{ADMIN, Cp, VIEWER, field};
use switchyard_proto::model::{HttpMethod, KeyHash, ProviderKind};

async fn with_provider(cp: &Cp) {
    let key = cp.file("openai.key", "sk-openai-a-0123456789\n");
    let out = cp
        .run(&[
            "provider",
            "add",
            "openai",
            "--kind",
            "openai",
            "--account",
            "team-a",
            "--api-key-file",
            &key,
            "--header",
            "X-Team=blue",
        ])
        .await;
    assert!(out.ok().starts_with("provider openai created (config version "), "{out:?}");
}

#[tokio::test]
async fn provider_commands() {
    let cp = Cp::start().await;
    assert_eq!(cp.run(&["provider", "list"]).await.ok(), "no providers\n");
    with_provider(&cp).await;

    let list = cp.run(&["provider", "list"]).await;
    let lines: Vec<&str> = list.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{list:?}");
    assert!(lines[0].starts_with("NAME    KIND    BASE URL"), "{list:?}");
    assert!(lines[1].starts_with("openai  openai  https://api.openai.com/v1  team-a    yes      no"), "{list:?}");

    let json = cp.run(&["-o", "json", "provider", "list"]).await.json();
    let p = &json["providers"][0];
    assert_eq!(p["name"], "openai");
    assert_eq!(p["kind"], "openai");
    let header = p["headers"]["X-Team"].as_str().unwrap();
    assert!(header.starts_with("${redacted:"), "header values are secrets: {header}");
    assert_eq!(p["managed"], false);
    let marker = p["accounts"][0]["api_key"].as_str().unwrap();
    assert!(marker.starts_with("${redacted:"), "secrets are markers: {marker}");
    assert!(!list.stdout.contains("sk-openai") && !json.to_string().contains("sk-openai"));

    let get = cp.run(&["provider", "get", "openai"]).await;
    let text = get.ok();
    assert_eq!(field(text, "name"), "openai");
    assert!(field(text, "headers").starts_with("X-Team=${redacted:"), "{text}");
    assert_eq!(field(text, "managed"), "no");
    assert!(text.contains("\naccounts:\nNAME    WEIGHT  ENABLED  API KEY"), "{text}");
    assert!(text.contains("team-a  1       yes      ${redacted:"), "{text}");
    assert!(!text.contains("sk-openai"));
    assert_eq!(cp.run(&["-o", "json", "provider", "get", "openai"]).await.json()["name"], "openai");

    // set: only the given fields change; the stored key stays (its marker was sent back).
    let set = cp
        .run(&[
            "provider",
            "set",
            "openai",
            "--base-url",
            "https://eu.api.openai.com/v1",
            "--remove-header",
            "X-Team",
            "--header",
            "X-Org=o1",
            "--total-timeout",
            "2m",
            "--http2",
        ])
        .await;
    assert!(set.ok().starts_with("provider openai updated"), "{set:?}");
    let stored = cp.config().await;
    let p = &stored.providers[0];
    assert_eq!(p.base_url, "https://eu.api.openai.com/v1");
    assert_eq!(p.headers.keys().collect::<Vec<_>>(), ["X-Org"]);
    assert_eq!(p.timeout.total, Some(std::time::Duration::from_secs(120)));
    assert!(p.http2);
    assert_eq!(p.kind, ProviderKind::OpenAi);
    assert_eq!(p.accounts[0].api_key.expose(), "sk-openai-a-0123456789", "the secret survives a set");

    let proxy = cp.file("proxy", "http://user:pw@proxy.internal:3128\n");
    let out = cp.run(&["provider", "set", "openai", "--http2=false", "--proxy-file", &proxy]).await;
    out.ok();
    let stored = cp.config().await;
    assert_eq!(stored.providers[0].proxy.as_ref().unwrap().expose(), "http://user:pw@proxy.internal:3128");
    let get = cp.run(&["provider", "get", "openai"]).await;
    assert!(!get.ok().contains("pw@"), "the proxy is a secret: {get:?}");
    cp.run(&["provider", "set", "openai", "--no-proxy"]).await.ok();
    assert!(cp.config().await.providers[0].proxy.is_none());

    let json = cp.run(&["-o", "json", "provider", "disable", "openai"]).await.json();
    assert_eq!(json["kind"], "provider");
    assert_eq!(json["action"], "disabled");
    assert!(json["config_version"].as_u64().unwrap() > 1);
    assert!(!cp.config().await.providers[0].enabled);
    assert!(cp.run(&["provider", "enable", "openai"]).await.ok().starts_with("provider openai enabled"));
    assert!(cp.config().await.providers[0].enabled);

    // Creating it twice, or one that needs a base URL without one.
    let again = cp.run(&["provider", "add", "openai", "--kind", "openai"]).await;
    assert!(again.error().starts_with("already exists: provider \"openai\""), "{again:?}");
    let no_url = cp.run(&["provider", "add", "x", "--kind", "openai-compatible"]).await;
    assert_eq!(no_url.error(), "provider add: --base-url is required for kind openai-compatible");
    let no_account = cp.run(&["provider", "add", "bare", "--kind", "openai"]).await;
    assert_eq!(no_account.error(), "invalid: provider.accounts: a provider needs at least one account");

    assert!(cp.run(&["provider", "rm", "openai"]).await.ok().starts_with("provider openai deleted"));
    assert!(cp.config().await.providers.is_empty());
    let gone = cp.run(&["provider", "get", "openai"]).await;
    assert_eq!(gone.error(), "not found: provider \"openai\" does not exist");
}

#[tokio::test]
async fn account_commands() {
    let cp = Cp::start().await;
    with_provider(&cp).await;
    let env = [("TEAM_B_KEY", "sk-openai-b-0123456789")];
    let add = cp
        .run_env(
            &env,
            &[
                "account",
                "add",
                "openai",
                "team-b",
                "--api-key-env",
                "TEAM_B_KEY",
                "--weight",
                "3",
                "--balance-currency",
                "USD",
                "--alert-below",
                "10.5",
            ],
        )
        .await;
    assert!(add.ok().starts_with("account openai/team-b created"), "{add:?}");
    let stored = cp.config().await;
    let b = stored.providers[0].account("team-b").unwrap();
    assert_eq!((b.api_key.expose(), b.weight), ("sk-openai-b-0123456789", 3));
    assert_eq!(b.balance.as_ref().unwrap().alert_below_micros, Some(10_500_000));

    let list = cp.run(&["account", "list"]).await;
    let text = list.ok();
    assert!(text.starts_with("PROVIDER  NAME    WEIGHT  ENABLED  API KEY"), "{text}");
    assert!(text.contains("openai    team-b  3       yes      ${redacted:"), "{text}");
    assert!(text.contains("USD (alert below 10.5)"), "{text}");
    assert!(!text.contains("sk-openai"));
    let json = cp.run(&["-o", "json", "account", "list", "openai"]).await.json();
    assert_eq!(json["accounts"][1]["name"], "team-b");
    assert_eq!(json["accounts"][1]["provider"], "openai");
    assert_eq!(json["accounts"][1]["balance"]["alert_below"], "10.5");
    let missing = cp.run(&["account", "list", "nope"]).await;
    assert_eq!(missing.error(), "not found: provider \"nope\" does not exist");

    // set without a key keeps the stored one; with one replaces it.
    cp.run(&["account", "set", "openai", "team-b", "--weight", "5"]).await.ok();
    let stored = cp.config().await;
    let b = stored.providers[0].account("team-b").unwrap();
    assert_eq!((b.api_key.expose(), b.weight), ("sk-openai-b-0123456789", 5));
    let new_key = cp.file("b2.key", "sk-openai-b2-0123456789");
    cp.run(&["account", "set", "openai", "team-b", "--api-key-file", &new_key, "--no-balance-policy"]).await.ok();
    let stored = cp.config().await;
    let b = stored.providers[0].account("team-b").unwrap();
    assert_eq!(b.api_key.expose(), "sk-openai-b2-0123456789");
    assert!(b.balance.is_none());

    cp.run(&["account", "disable", "openai", "team-b"]).await.ok();
    assert!(!cp.config().await.providers[0].account("team-b").unwrap().enabled);
    cp.run(&["account", "enable", "openai", "team-b"]).await.ok();
    assert!(cp.config().await.providers[0].account("team-b").unwrap().enabled);

    let balance = cp.run(&["account", "balance", "set", "openai", "team-b", "25.75", "--currency", "USD"]).await;
    assert_eq!(balance.ok(), "account openai/team-b balance set to 25.75 USD\n");
    let json = cp.run(&["-o", "json", "account", "balance", "set", "openai", "team-b", "0", "--currency", "USD"]).await;
    assert_eq!(json.json()["balance"], "0");
    let revision = cp.revision().await;
    let bad = cp.run(&["account", "balance", "set", "openai", "nope", "1", "--currency", "USD"]).await;
    assert_eq!(bad.error(), "not found: account \"openai/nope\" does not exist");
    let bad = cp.run(&["account", "balance", "set", "openai", "team-b", "1", "--currency", "usd"]).await;
    assert!(bad.error().starts_with("--currency: invalid currency \"usd\""), "{bad:?}");
    assert_eq!(cp.revision().await, revision, "a balance is runtime state: the Config revision stays");

    // Errors name the field; secrets are never arguments.
    let zero = cp.run(&["account", "set", "openai", "team-b", "--weight", "0"]).await;
    assert!(zero.error().starts_with("invalid: account.weight: must be at least 1"), "{zero:?}");
    let unset = cp.run(&["account", "add", "openai", "team-c", "--api-key-env", "UNSET_VAR"]).await;
    assert_eq!(unset.error(), "--api-key-env: environment variable UNSET_VAR is not set");
    let inline = cp.run(&["account", "add", "openai", "team-c", "--api-key", "sk-inline"]).await;
    assert_eq!(inline.code, 1);
    assert!(inline.stderr.contains("unexpected argument '--api-key'"), "{inline:?}");
    let none = cp.run(&["account", "add", "openai", "team-c"]).await;
    assert_eq!(none.code, 1);
    assert!(none.stderr.contains("--api-key-file"), "{none:?}");

    cp.run(&["account", "rm", "openai", "team-b"]).await.ok();
    let last = cp.run(&["account", "rm", "openai", "team-a"]).await;
    assert!(last.error().contains("accounts: a provider needs at least one account"), "{last:?}");
    assert_eq!(cp.config().await.providers[0].accounts.len(), 1);
}

#[tokio::test]
async fn model_commands() {
    let cp = Cp::start().await;
    with_provider(&cp).await;
    let add = cp
        .run(&[
            "model",
            "add",
            "gpt-4o-mini",
            "--target",
            "openai:gpt-4o-mini",
            "--target",
            "openai:gpt-4o-mini-2024@1",
            "--strategy",
            "round_robin",
            "--alias",
            "smart",
        ])
        .await;
    assert!(add.ok().starts_with("model gpt-4o-mini created"), "{add:?}");
    let stored = cp.config().await;
    let r = &stored.models[0];
    assert_eq!(r.aliases, ["smart"]);
    assert_eq!(r.targets[1].model, "gpt-4o-mini-2024");
    assert_eq!(r.targets[1].priority, 1);

    let list = cp.run(&["model", "list"]).await;
    let text = list.ok();
    assert!(text.starts_with("NAME         ALIASES  STRATEGY     TARGETS"), "{text}");
    assert!(
        text.contains("gpt-4o-mini  smart    round_robin  openai:gpt-4o-mini@0, openai:gpt-4o-mini-2024@1  -"),
        "{text}"
    );

    cp.run(&["model", "set", "gpt-4o-mini", "--strategy", "p2c"]).await.ok();
    cp.run(&["model", "alias", "add", "gpt-4o-mini", "mini"]).await.ok();
    cp.run(&["model", "alias", "rm", "gpt-4o-mini", "smart"]).await.ok();
    let dup = cp.run(&["model", "alias", "add", "gpt-4o-mini", "mini"]).await;
    assert_eq!(dup.error(), "already exists: model \"gpt-4o-mini\" already has alias \"mini\"");
    cp.run(&["model", "target", "add", "gpt-4o-mini", "openai", "gpt-4.1-mini", "--priority", "2"]).await.ok();
    cp.run(&["model", "target", "rm", "gpt-4o-mini", "openai", "gpt-4o-mini-2024"]).await.ok();
    let unknown = cp.run(&["model", "target", "add", "gpt-4o-mini", "nope", "m"]).await;
    assert!(
        unknown.error().starts_with("invalid: route.targets[2].provider: unknown provider \"nope\""),
        "{unknown:?}"
    );

    let price = ["model", "price", "set", "gpt-4o-mini", "--currency", "USD", "--input", "0.15", "--output", "0.6"];
    cp.run(&price).await.ok();
    let target_price = [
        "model",
        "price",
        "set",
        "gpt-4o-mini",
        "--currency",
        "USD",
        "--input",
        "0.1",
        "--output",
        "0.4",
        "--cached",
        "0.025",
        "--target",
        "openai:gpt-4.1-mini",
    ];
    cp.run(&target_price).await.ok();
    let stored = cp.config().await;
    let r = &stored.models[0];
    assert_eq!(r.strategy.as_str(), "p2c");
    assert_eq!(r.aliases, ["mini"]);
    let price = r.price.as_ref().unwrap();
    assert_eq!((price.input_per_mtok_micros, price.output_per_mtok_micros), (Some(150_000), Some(600_000)));
    let t = r.targets.iter().find(|t| t.model == "gpt-4.1-mini").unwrap();
    assert_eq!(t.priority, 2);
    assert_eq!(t.price.as_ref().unwrap().cached_input_per_mtok_micros, Some(25_000));

    let get = cp.run(&["model", "get", "gpt-4o-mini"]).await;
    let text = get.ok();
    assert_eq!(field(text, "price"), "USD in 0.15 out 0.6");
    assert!(text.contains("openai    gpt-4.1-mini  2         USD in 0.1 out 0.4 cached 0.025"), "{text}");
    let json = cp.run(&["-o", "json", "model", "get", "gpt-4o-mini"]).await.json();
    assert_eq!(json["price"]["input_per_mtok"], "0.15");
    assert_eq!(json["targets"][1]["price"]["cached_input_per_mtok"], "0.025");
    assert_eq!(json["strategy"], "p2c");

    cp.run(&["model", "price", "rm", "gpt-4o-mini"]).await.ok();
    assert!(cp.config().await.models[0].price.is_none());
    let bad = cp.run(&["model", "price", "set", "gpt-4o-mini", "--currency", "USD", "--input", "0.0000001"]).await;
    assert_eq!(bad.error(), "--input: amount \"0.0000001\" has more than 6 decimal places");

    assert!(cp.run(&["model", "rm", "gpt-4o-mini"]).await.ok().starts_with("model gpt-4o-mini deleted"));
    assert!(cp.config().await.models.is_empty());
}

#[tokio::test]
async fn key_commands() {
    let cp = Cp::start().await;
    with_provider(&cp).await;
    cp.run(&["model", "add", "m1", "--target", "openai:gpt-4o-mini"]).await.ok();
    let created = cp
        .run(&[
            "key",
            "create",
            "app-1",
            "--models",
            "m1",
            "--rpm",
            "600",
            "--budget",
            "50USD/month",
            "--expires",
            "2030-01-01T00:00:00Z",
        ])
        .await;
    let text = created.ok().to_owned();
    assert!(text.starts_with("key app-1 created (config version "), "{text}");
    assert!(text.contains("This is the only time the key is shown"), "{text}");
    let key = text.lines().find(|l| l.trim().starts_with("sk-")).unwrap().trim().to_owned();
    let stored = cp.config().await;
    let k = &stored.keys[0];
    assert_eq!(k.key_sha256, KeyHash::of(&key), "the printed key is the one stored (as its hash)");
    assert_eq!((k.rpm, k.budget.as_ref().unwrap().amount_micros), (Some(600), 50_000_000));
    assert_eq!(k.models.as_deref(), Some(&["m1".to_owned()][..]));

    // Never shown again.
    let list = cp.run(&["key", "list"]).await;
    assert!(list.ok().starts_with("NAME   MODELS  RPM  TPM  BUDGET       EXPIRES"), "{list:?}");
    assert!(
        list.stdout.contains("app-1  m1      600  -    50USD/month  2030-01-01T00:00:00Z  yes      no"),
        "{list:?}"
    );
    let get = cp.run(&["key", "get", "app-1"]).await;
    let json_list = cp.run(&["-o", "json", "key", "list"]).await;
    let json_get = cp.run(&["-o", "json", "key", "get", "app-1"]).await;
    for out in [&list, &get, &json_list, &json_get] {
        assert!(!out.ok().contains(&key), "the key is never shown again: {out:?}");
    }
    assert_eq!(json_get.json()["key_sha256"], KeyHash::of(&key).to_hex());
    assert_eq!(json_get.json()["budget"]["amount"], "50");

    let json = cp.run(&["-o", "json", "key", "create", "batch"]).await.json();
    let batch = json["key"].as_str().unwrap();
    assert!(batch.starts_with("sk-") && json["config_version"].as_u64().unwrap() > 0);

    cp.run(&["key", "set", "app-1", "--tpm", "1000", "--no-budget", "--all-models", "--allow-direct"]).await.ok();
    let stored = cp.config().await;
    let k = stored.keys.iter().find(|k| k.name == "app-1").unwrap();
    assert_eq!((k.tpm, k.rpm, k.budget.is_none(), k.models.is_none()), (Some(1000), Some(600), true, true));
    assert!(k.allow_direct);
    assert_eq!(k.key_sha256, KeyHash::of(&key), "set keeps the key");

    // Passthrough: paths with every method, then methods narrowed, then removed.
    cp.run(&["key", "set", "app-1", "--passthrough-paths", "/files,/batches"]).await.ok();
    let stored = cp.config().await;
    let p = stored.keys.iter().find(|k| k.name == "app-1").unwrap().passthrough.clone().unwrap();
    assert_eq!((p.methods, p.paths), (HttpMethod::ALL.to_vec(), vec!["/files".to_owned(), "/batches".to_owned()]));
    cp.run(&["key", "set", "app-1", "--passthrough-methods", "get,DELETE"]).await.ok();
    let get = cp.run(&["key", "get", "app-1"]).await;
    assert!(get.ok().contains("passthrough:   GET,DELETE /files,/batches"), "{get:?}");
    let json_get = cp.run(&["-o", "json", "key", "get", "app-1"]).await.json();
    assert_eq!(
        json_get["passthrough"],
        serde_json::json!({"methods": ["GET", "DELETE"], "paths": ["/files", "/batches"]})
    );
    let bad = cp.run(&["key", "set", "app-1", "--passthrough-paths", "/v1/files"]).await;
    assert!(bad.error().contains("key.passthrough.paths[0]: \"/v1/files\": paths are after /v1"), "{bad:?}");
    let bad = cp.run(&["key", "set", "app-1", "--passthrough-methods", "PUT"]).await;
    assert!(bad.error().contains("unknown method \"PUT\""), "{bad:?}");
    cp.run(&["key", "set", "app-1", "--no-passthrough"]).await.ok();
    assert!(cp.config().await.keys.iter().find(|k| k.name == "app-1").unwrap().passthrough.is_none());
    let bad = cp.run(&["key", "set", "app-1", "--passthrough-methods", "GET"]).await;
    assert!(bad.error().contains("the key has no passthrough policy"), "{bad:?}");

    let bad = cp.run(&["key", "set", "app-1", "--models", "nope"]).await;
    assert!(bad.error().starts_with("invalid: key.models[0]: unknown model \"nope\""), "{bad:?}");
    let bad = cp.run(&["key", "create", "x", "--budget", "50USD/year"]).await;
    assert!(bad.error().contains("unknown period \"year\""), "{bad:?}");

    cp.run(&["key", "disable", "app-1"]).await.ok();
    assert!(!cp.config().await.keys.iter().find(|k| k.name == "app-1").unwrap().enabled);
    cp.run(&["key", "enable", "app-1"]).await.ok();
    cp.run(&["key", "rm", "batch"]).await.ok();
    assert_eq!(cp.config().await.keys.len(), 1);
}

#[tokio::test]
async fn token_commands() {
    let cp = Cp::start().await;
    let created = cp.run(&["token", "create", "ci", "--role", "viewer"]).await;
    let text = created.ok().to_owned();
    assert!(text.starts_with("admin token ci created with role viewer"), "{text}");
    let token = text.lines().map(str::trim).find(|l| l.starts_with("sy-admin-")).unwrap().to_owned();

    // The new viewer token reads and cannot write.
    assert!(cp.run_as(&token, &["provider", "list"]).await.ok().starts_with("no providers"));
    let refused = cp.run_as(&token, &["model", "add", "m", "--target", "p:m"]).await;
    assert!(refused.error().starts_with("permission denied: token \"ci\" has role viewer"), "{refused:?}");

    let list = cp.run(&["token", "list"]).await;
    let text = list.ok();
    assert!(text.starts_with("NAME"), "{text}");
    assert!(text.contains("ci ") && text.contains("viewer"), "{text}");
    assert!(!text.contains(&token) && !text.contains(ADMIN) && !text.contains(VIEWER), "tokens never listed: {text}");
    let json = cp.run(&["-o", "json", "token", "list"]).await.json();
    assert!(json["tokens"].as_array().unwrap().iter().any(|t| t["name"] == "ci" && t["role"] == "viewer"));

    assert_eq!(cp.run(&["token", "revoke", "ci"]).await.ok(), "admin token ci revoked\n");
    let revoked = cp.run_as(&token, &["provider", "list"]).await;
    assert_eq!(revoked.error(), "the token was refused: unknown or revoked admin token");

    // Node tokens.
    let created = cp.run(&["-o", "json", "node", "token", "create", "edge-1", "--description", "eu edge"]).await.json();
    assert_eq!(created["name"], "edge-1");
    let node_token = created["token"].as_str().unwrap().to_owned();
    assert!(cp.handle.store.node_token_allows(&node_token, "edge-1").await.unwrap());
    let list = cp.run(&["node", "token", "list"]).await;
    assert!(list.ok().contains("edge-1"), "{list:?}");
    assert!(!list.stdout.contains(&node_token));
    assert_eq!(cp.run(&["node", "token", "revoke", "edge-1"]).await.ok(), "node token edge-1 revoked\n");
    assert!(!cp.handle.store.node_token_allows(&node_token, "edge-1").await.unwrap());
    let again = cp.run(&["node", "token", "revoke", "edge-1"]).await;
    assert_eq!(again.error(), "not found: no active node token named \"edge-1\"");
}

#[tokio::test]
async fn settings_commands() {
    let cp = Cp::start().await;
    with_provider(&cp).await;
    cp.run(&["model", "add", "m1", "--target", "openai:gpt-4o-mini"]).await.ok();

    let get = cp.run(&["settings", "get"]).await;
    let text = get.ok();
    assert!(text.contains("default_model:"), "{text}");
    assert!(text.contains("retry.max_attempts:"), "{text}");
    assert!(text.contains("timeout.connect:"), "{text}");

    cp.run(&["settings", "set", "--default-model", "m1", "--max-attempts", "2", "--fail-closed-after", "24h"])
        .await
        .ok();
    let stored = cp.config().await.settings;
    assert_eq!(stored.default_model.as_deref(), Some("m1"));
    assert_eq!(stored.retry.max_attempts, 2);
    assert_eq!(stored.snapshot_fail_closed_after, Some(std::time::Duration::from_secs(86_400)));
    let json = cp.run(&["-o", "json", "settings", "get"]).await.json();
    assert_eq!(json["default_model"], "m1");
    assert_eq!(json["retry"]["max_attempts"], 2);
    assert_eq!(json["snapshot"]["fail_closed_after"], "1d");

    let bad = cp.run(&["settings", "set", "--default-model", "nope"]).await;
    assert!(bad.error().contains("settings.default_model: unknown model \"nope\""), "{bad:?}");

    // From a file: the settings mapping, or a document holding `settings:`; secrets by reference.
    let file = cp.file(
        "settings.yaml",
        "default_model: m1\nretry: {max_attempts: 4}\n\
         alerts:\n  channels:\n    - {name: ops, kind: webhook, url: \"${env:HOOK}\"}\n",
    );
    let out =
        cp.run_env(&[("HOOK", "https://hooks.example.com/x?token=s3cret")], &["settings", "set", "-f", &file]).await;
    assert!(out.ok().starts_with("settings replaced (config version "), "{out:?}");
    let stored = cp.config().await.settings;
    assert_eq!(stored.retry.max_attempts, 4);
    assert_eq!(stored.snapshot_fail_closed_after, None, "a file replaces every setting");
    assert_eq!(stored.alerts.channels[0].name, "ops");
    let get = cp.run(&["settings", "get"]).await;
    assert!(!get.ok().contains("s3cret"), "{get:?}");
    assert!(get.stdout.contains("alerts.channels[0].url:"), "{get:?}");

    // A change by flags keeps the stored alert secret (its marker goes back).
    cp.run(&["settings", "set", "--request-bodies", "true"]).await.ok();
    let stored = cp.config().await.settings;
    assert!(stored.logging.request_bodies);
    let switchyard_proto::model::AlertChannelKind::Webhook { url } = &stored.alerts.channels[0].kind else { panic!() };
    assert_eq!(url.expose(), "https://hooks.example.com/x?token=s3cret");

    let doc = cp.file("doc.yaml", "providers: []\nsettings:\n  retry: {max_attemps: 4}\n");
    let revision = cp.revision().await;
    let bad = cp.run(&["settings", "set", "-f", &doc]).await;
    assert_eq!(bad.error(), format!("{doc}: settings.retry.max_attemps: unknown field"));
    assert_eq!(cp.revision().await, revision);
}
