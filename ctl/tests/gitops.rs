#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `syctl apply`, `diff` and `export` against a real control plane: the
//! file resolved client-side, plans, idempotence, dry runs, pruning that
//! spares imperative objects, diff's exit codes and `--ignore-secrets`.

mod common;

use common::{Cp, VIEWER};

const DOCUMENT: &str = r#"
providers:
  - name: openai
    kind: openai
    accounts:
      - name: team-a
        api_key: ${env:OPENAI_KEY_A}
      - name: team-b
        api_key: "${file:team-b.key}"
        weight: 2
models:
  - name: gpt-4o-mini
    aliases: [smart]
    price: {currency: USD, input_per_mtok: 0.15, output_per_mtok: 0.60}
    targets: [{provider: openai, model: gpt-4o-mini}]
  - name: gpt-4o
    targets: [{provider: openai, model: gpt-4o}]
keys:
  - {name: app-1, key: "${env:APP1_KEY}", models: [gpt-4o-mini], rpm: 600}
  - name: batch
    key_sha256: "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
    passthrough: {methods: [GET], paths: [/files, /batches]}
settings:
  default_model: gpt-4o-mini
"#;

/// The `batch` key of [`DOCUMENT`], as written there.
const BATCH_KEY: &str = "  - name: batch
    key_sha256: \"6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b\"
    passthrough: {methods: [GET], paths: [/files, /batches]}
";

const ENV: [(&str, &str); 2] = [("OPENAI_KEY_A", "sk-team-a-0123456789"), ("APP1_KEY", "client-key-app1-0123456789")];

/// The control plane and the document's files in its folder.
async fn setup() -> (Cp, String) {
    let cp = Cp::start().await;
    cp.file("team-b.key", "sk-team-b-0123456789\n");
    let path = cp.file("gateway.yaml", DOCUMENT);
    (cp, path)
}

fn api_keys(config: &switchyard_proto::model::Config) -> Vec<(String, String)> {
    config
        .providers
        .iter()
        .flat_map(|p| p.accounts.iter().map(|a| (a.name.clone(), a.api_key.expose().to_owned())))
        .collect()
}

#[tokio::test]
async fn apply_twice_changes_nothing() {
    let (cp, path) = setup().await;
    let first = cp.run_env(&ENV, &["apply", "-f", &path]).await;
    let text = first.ok();
    for line in ["+ provider openai\n", "+ model gpt-4o-mini\n", "+ model gpt-4o\n", "+ key app-1\n", "+ key batch\n"] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    assert!(text.contains("~ settings\n    default_model: (default) -> gpt-4o-mini\n"), "{text}");
    assert!(text.contains("Plan: 5 to create, 1 to update, 0 to delete, 0 orphaned, 0 unmanaged.\n"), "{text}");
    let revision = cp.revision().await;
    assert!(text.ends_with(&format!("Applied: config version {revision}.\n")), "{text}");
    let stored = cp.config().await;
    assert_eq!(
        api_keys(&stored),
        [("team-a".into(), "sk-team-a-0123456789".into()), ("team-b".into(), "sk-team-b-0123456789".into())]
    );
    assert!(!text.contains("sk-team"), "secrets never printed: {text}");

    let second = cp.run_env(&ENV, &["apply", "-f", &path]).await;
    assert_eq!(
        second.ok(),
        format!(
            "Plan: 0 to create, 0 to update, 0 to delete, 0 orphaned, 0 unmanaged.\n\
             No changes: config version {revision}.\n"
        )
    );
    assert_eq!(cp.revision().await, revision, "a second apply is a no-op");
    let json = cp.run_env(&ENV, &["-o", "json", "apply", "-f", &path]).await.json();
    assert_eq!(json["changes"], serde_json::json!([]));
    assert_eq!(json["applied"], false);
    assert_eq!(json["config_version"], revision);

    // Everything the file made is managed.
    let list = cp.run(&["-o", "json", "provider", "list"]).await.json();
    assert_eq!(list["providers"][0]["managed"], true);
}

#[tokio::test]
async fn dry_run_writes_nothing() {
    let (cp, path) = setup().await;
    let revision = cp.revision().await;
    let out = cp.run_env(&ENV, &["apply", "-f", &path, "--dry-run"]).await;
    let text = out.ok();
    assert!(text.contains("+ provider openai\n"), "{text}");
    assert!(
        text.ends_with(
            "Plan: 5 to create, 1 to update, 0 to delete, 0 orphaned, 0 unmanaged.\nDry run: nothing was changed.\n"
        ),
        "{text}"
    );
    assert_eq!(cp.revision().await, revision);
    assert!(cp.config().await.providers.is_empty());

    let json = cp.run_env(&ENV, &["-o", "json", "apply", "-f", &path, "--dry-run"]).await.json();
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["applied"], false);
    assert_eq!(json["summary"]["create"], 5);
    let change = &json["changes"][0];
    assert!(change["action"].is_string() && change["object"]["kind"].is_string(), "{json}");
    assert_eq!(cp.revision().await, revision);
}

#[tokio::test]
async fn export_then_apply_changes_nothing_and_keeps_secrets() {
    let (cp, path) = setup().await;
    cp.run_env(&ENV, &["apply", "-f", &path]).await.ok();
    let revision = cp.revision().await;
    let before = cp.config().await;

    let exported = cp.run(&["export"]).await;
    let document = exported.ok().to_owned();
    assert!(document.contains("api_key: ${redacted:"), "{document}");
    assert!(!document.contains("sk-team") && !document.contains("client-key-app1"), "{document}");
    assert!(document.contains("    passthrough: {methods: [GET], paths: [/files, /batches]}\n"), "{document}");
    let batch = before.keys.iter().find(|k| k.name == "batch").unwrap();
    assert_eq!(batch.passthrough.as_ref().unwrap().paths, ["/files", "/batches"], "stored as written");
    let json = cp.run(&["-o", "json", "export"]).await.json();
    assert_eq!(json["document"].as_str().unwrap(), document.trim_end_matches('\n').to_owned() + "\n");
    assert_eq!(json["config_version"], revision);

    let exported_path = cp.file("exported.yaml", &document);
    let diff = cp.run(&["diff", "-f", &exported_path]).await;
    assert_eq!(diff.ok(), "Plan: 0 to create, 0 to update, 0 to delete, 0 orphaned, 0 unmanaged.\n");
    let apply = cp.run(&["apply", "-f", &exported_path]).await;
    assert!(apply.ok().contains("No changes"), "{apply:?}");
    assert_eq!(cp.revision().await, revision);
    let after = cp.config().await;
    assert_eq!(api_keys(&after), api_keys(&before), "no secret lost");
    assert_eq!(after, before);

    // A changed marker is refused with the field named.
    let tampered = cp.file("tampered.yaml", &document.replacen("${redacted:", "${redacted:0", 1));
    let refused = cp.run(&["apply", "-f", &tampered]).await;
    assert!(refused.error().starts_with("refused: providers[0].accounts[0].api_key: ${redacted:0"), "{refused:?}");
    assert_eq!(cp.revision().await, revision);
}

#[tokio::test]
async fn prune_deletes_only_what_apply_made() {
    let (cp, path) = setup().await;
    cp.run_env(&ENV, &["apply", "-f", &path]).await.ok();
    // Imperative objects: never pruned, listed as unmanaged.
    let key = cp.file("manual.key", "sk-manual-0123456789");
    let add = ["provider", "add", "manual", "--kind", "openai", "--account", "a", "--api-key-file", &key];
    cp.run(&add).await.ok();
    cp.run(&["key", "create", "manual-key"]).await.ok();

    let smaller = DOCUMENT
        .replace("  - name: gpt-4o\n    targets: [{provider: openai, model: gpt-4o}]\n", "")
        .replace(BATCH_KEY, "");
    let smaller_path = cp.file("smaller.yaml", &smaller);
    let plan = cp.run_env(&ENV, &["apply", "-f", &smaller_path]).await;
    let text = plan.ok();
    assert!(
        text.contains("! model gpt-4o (orphaned: created by apply, absent from the file; --prune deletes it)\n"),
        "{text}"
    );
    assert!(text.contains("! key batch (orphaned"), "{text}");
    assert!(text.contains("? provider manual (unmanaged: made imperatively; apply leaves it alone)\n"), "{text}");
    assert!(text.contains("? key manual-key (unmanaged"), "{text}");
    assert!(text.contains("Plan: 0 to create, 0 to update, 0 to delete, 2 orphaned, 2 unmanaged.\n"), "{text}");
    assert_eq!(cp.config().await.models.len(), 2, "without --prune nothing is deleted");

    let pruned = cp.run_env(&ENV, &["apply", "-f", &smaller_path, "--prune"]).await;
    let text = pruned.ok();
    assert!(text.contains("- model gpt-4o\n") && text.contains("- key batch\n"), "{text}");
    assert!(text.contains("Plan: 0 to create, 0 to update, 2 to delete, 0 orphaned, 2 unmanaged.\n"), "{text}");
    let stored = cp.config().await;
    let names = |v: Vec<&String>| v.into_iter().cloned().collect::<Vec<_>>();
    assert_eq!(names(stored.models.iter().map(|m| &m.name).collect()), ["gpt-4o-mini"]);
    assert_eq!(names(stored.keys.iter().map(|k| &k.name).collect()), ["app-1", "manual-key"]);
    assert_eq!(names(stored.providers.iter().map(|p| &p.name).collect()), ["manual", "openai"]);
}

#[tokio::test]
async fn diff_exit_codes() {
    let (cp, path) = setup().await;
    let out = cp.run_env(&ENV, &["diff", "-f", &path]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.contains("+ provider openai\n"), "{out:?}");
    cp.run_env(&ENV, &["apply", "-f", &path]).await.ok();
    let revision = cp.revision().await;

    let same = cp.run_env(&ENV, &["diff", "-f", &path]).await;
    assert_eq!(same.ok(), "Plan: 0 to create, 0 to update, 0 to delete, 0 orphaned, 0 unmanaged.\n");

    let changed = cp.file("changed.yaml", &DOCUMENT.replace("weight: 2", "weight: 3").replace("rpm: 600", "rpm: 60"));
    let out = cp.run_env(&ENV, &["diff", "-f", &changed]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.contains("~ provider openai\n    accounts[team-b].weight: 2 -> 3\n"), "{out:?}");
    assert!(out.stdout.contains("~ key app-1\n    rpm: 600 -> 60\n"), "{out:?}");
    assert!(out.stdout.ends_with("Plan: 0 to create, 2 to update, 0 to delete, 0 orphaned, 0 unmanaged.\n"), "{out:?}");
    let json = cp.run_env(&ENV, &["-o", "json", "diff", "-f", &changed]).await;
    assert_eq!(json.code, 2);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let change = value["changes"].as_array().unwrap().iter().find(|c| c["object"]["name"] == "app-1").unwrap();
    assert_eq!(change["action"], "update");
    assert_eq!(change["fields"][0], serde_json::json!({"field": "rpm", "before": "600", "after": "60"}));
    assert_eq!(value["summary"]["update"], 2);

    // Unmanaged objects do not count; orphaned ones do.
    cp.run(&["key", "create", "manual"]).await.ok();
    let out = cp.run_env(&ENV, &["diff", "-f", &path]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("? key manual (unmanaged"), "{out:?}");
    let without_batch = cp.file("no-batch.yaml", &DOCUMENT.replace(BATCH_KEY, ""));
    let out = cp.run_env(&ENV, &["diff", "-f", &without_batch]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.contains("! key batch (orphaned"), "{out:?}");
    let out = cp.run_env(&ENV, &["diff", "-f", &without_batch, "--prune"]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stdout.contains("- key batch\n"), "{out:?}");
    assert_eq!(cp.revision().await, revision + 1, "only the imperative key create wrote");

    // A viewer may diff (a dry run) but not apply.
    let mut env = cp.env.clone().with("SWITCHYARD_TOKEN", VIEWER);
    for (k, v) in ENV {
        env = env.with(k, v);
    }
    let out = common::syctl(&env, &["diff", "-f", &path]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let out = common::syctl(&env, &["apply", "-f", &path]).await;
    assert!(out.error().starts_with("permission denied: token \"ci-viewer\" has role viewer"), "{out:?}");
}

#[tokio::test]
async fn diff_can_ignore_secrets() {
    let (cp, path) = setup().await;
    cp.run_env(&ENV, &["apply", "-f", &path]).await.ok();
    std::fs::remove_file(cp.dir.path().join("team-b.key")).unwrap();

    // CI without the secrets: the references cannot be resolved.
    let out = cp.run(&["diff", "-f", &path]).await;
    assert_eq!(out.code, 1, "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            format!("error: {path}: providers[0].accounts[0].api_key: environment variable OPENAI_KEY_A is not set"),
            format!(
                "error: {path}: providers[0].accounts[1].api_key: cannot read secret file team-b.key: no such file"
            ),
            format!("error: {path}: keys[0].key: environment variable APP1_KEY is not set"),
        ]
    );

    let out = cp.run(&["diff", "-f", &path, "--ignore-secrets"]).await;
    assert_eq!(out.ok(), "Plan: 0 to create, 0 to update, 0 to delete, 0 orphaned, 0 unmanaged.\n");

    let changed = cp.file("changed.yaml", &DOCUMENT.replace("rpm: 600", "rpm: 60"));
    let out = cp.run(&["diff", "-f", &changed, "--ignore-secrets"]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(
        out.stdout,
        "~ key app-1\n    rpm: 600 -> 60\n\nPlan: 0 to create, 1 to update, 0 to delete, 0 orphaned, 0 unmanaged.\n"
    );

    // A reference outside a secret position is still an error.
    let bad = cp.file("bad.yaml", &DOCUMENT.replace("name: gpt-4o\n", "name: ${env:MODEL_NAME}\n"));
    let out = cp.run(&["diff", "-f", &bad, "--ignore-secrets"]).await;
    assert_eq!(out.error(), format!("{bad}: models[1].name: environment variable MODEL_NAME is not set"));
}

#[tokio::test]
async fn document_errors_are_found_before_sending() {
    let (cp, _) = setup().await;
    let revision = cp.revision().await;
    let bad = cp.file(
        "bad.yaml",
        "providers:\n  - {name: p, kind: openai, wieght: 1, accounts: [{name: a, api_key: sk-0123456789}]}\n\
         models:\n  - {name: m, targets: [{provider: nope, model: x}]}\n",
    );
    let out = cp.run(&["apply", "-f", &bad]).await;
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        format!(
            "error: {bad}: providers[0].wieght: unknown field\n\
             error: {bad}: models[0].targets[0].provider: unknown provider \"nope\"\n"
        )
    );
    let missing = cp.run(&["apply", "-f", "/nonexistent/gateway.yaml"]).await;
    assert_eq!(missing.error(), "/nonexistent/gateway.yaml: cannot read: no such file");
    let yaml = cp.file("yaml.yaml", "providers: [\n");
    assert!(cp.run(&["diff", "-f", &yaml]).await.error().starts_with(&format!("{yaml}: invalid YAML: ")));
    assert_eq!(cp.revision().await, revision);
}
