#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Admin.Apply and Admin.Export against a real control plane: plans with
//! field-level changes, dry runs that write nothing, idempotent applies,
//! export -> apply without losing a secret, pruning only what apply made,
//! and the errors a bad document or a viewer gets.

mod common;

use common::admin::{ADMIN, Client, VIEWER};
use std::collections::BTreeMap;
use switchyard_control::Handle;
use switchyard_control::store::{Change as StoreChange, Ownership};
use switchyard_proto::pb::{self, ChangeAction, ObjectKind};

const DOCUMENT: &str = r#"
providers:
  - name: openai
    kind: openai
    base_url: https://api.openai.com/v1
    accounts:
      - {name: team-a, api_key: "sk-team-a-0123456789"}
      - {name: team-b, api_key: "sk-team-b-0123456789"}
models:
  - name: gpt-4o-mini
    aliases: [smart]
    targets: [{provider: openai, model: gpt-4o-mini}]
keys:
  - {name: app, key: "client-key-app-0123456789", rpm: 60}
"#;

async fn apply(client: &mut Client, document: &str, dry_run: bool, prune: bool) -> Result<pb::Plan, tonic::Status> {
    let request = pb::ApplyRequest { document: document.to_owned(), dry_run, prune };
    client.apply(request).await.map(tonic::Response::into_inner)
}

/// (kind, name) -> (action, field -> (before, after)).
type Summary = BTreeMap<(ObjectKind, String), (ChangeAction, BTreeMap<String, (String, String)>)>;

fn summary(plan: &pb::Plan) -> Summary {
    plan.changes
        .iter()
        .map(|c| {
            let object = c.object.clone().unwrap();
            let fields = c.fields.iter().map(|f| (f.field.clone(), (f.before.clone(), f.after.clone()))).collect();
            ((object.kind(), object.name), (c.action(), fields))
        })
        .collect()
}

fn actions(plan: &pb::Plan) -> Vec<(ObjectKind, String, ChangeAction)> {
    summary(plan).into_iter().map(|((k, n), (a, _))| (k, n, a)).collect()
}

#[tokio::test]
async fn a_dry_run_plans_without_writing_and_a_second_apply_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let handle = start(dir.path()).await;
    let mut admin = client(&handle, ADMIN).await;

    let plan = apply(&mut admin, DOCUMENT, true, false).await.unwrap();
    assert!(!plan.applied);
    assert_eq!(plan.config_version, 0, "a dry run writes nothing");
    assert_eq!(handle.store.revision().await.unwrap(), 0);
    assert_eq!(
        actions(&plan),
        [
            (ObjectKind::Provider, "openai".into(), ChangeAction::Create),
            (ObjectKind::Route, "gpt-4o-mini".into(), ChangeAction::Create),
            (ObjectKind::Key, "app".into(), ChangeAction::Create),
        ]
    );
    let provider = &summary(&plan)[&(ObjectKind::Provider, "openai".into())].1;
    assert_eq!(provider["kind"], (String::new(), "openai".into()));
    let key = &provider["accounts[team-a].api_key"].1;
    assert!(key.starts_with("${redacted:") && !key.contains("sk-team-a"), "secrets only as markers: {key}");

    let plan = apply(&mut admin, DOCUMENT, false, false).await.unwrap();
    assert!(plan.applied);
    assert_eq!(plan.config_version, 1);
    assert_eq!(handle.store.load().await.unwrap().1.providers[0].accounts[0].api_key.expose(), "sk-team-a-0123456789");

    let again = apply(&mut admin, DOCUMENT, false, false).await.unwrap();
    assert!(!again.applied && again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(again.config_version, 1);

    // A field-level update.
    let edited = DOCUMENT
        .replace(
            r#"{name: team-b, api_key: "sk-team-b-0123456789"}"#,
            r#"{name: team-b, api_key: "sk-team-b-0123456789", weight: 3}"#,
        )
        .replace("rpm: 60", "rpm: 120");
    let plan = apply(&mut admin, &edited, false, false).await.unwrap();
    let s = summary(&plan);
    assert_eq!(s.len(), 2, "{s:?}");
    let (action, fields) = &s[&(ObjectKind::Provider, "openai".into())];
    assert_eq!(*action, ChangeAction::Update);
    assert_eq!(fields.len(), 1, "{fields:?}");
    assert_eq!(fields["accounts[team-b].weight"], (String::new(), "3".into()));
    assert_eq!(s[&(ObjectKind::Key, "app".into())].1["rpm"], ("60".into(), "120".into()));
    assert_eq!(plan.config_version, 2);
    handle.shutdown().await;
}

#[tokio::test]
async fn export_then_apply_changes_nothing_and_loses_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let handle = start(dir.path()).await;
    let mut admin = client(&handle, ADMIN).await;
    apply(&mut admin, DOCUMENT, false, false).await.unwrap();
    let (_, before) = handle.store.load().await.unwrap();

    let exported = admin.export(pb::ExportRequest {}).await.unwrap().into_inner();
    assert_eq!(exported.config_version, 1);
    assert!(!exported.document.contains("sk-team"), "no secret in an export:\n{}", exported.document);
    assert!(exported.document.contains("${redacted:"));
    let plan = apply(&mut admin, &exported.document, false, true).await.unwrap();
    assert!(plan.changes.is_empty() && !plan.applied, "{:?}", plan.changes);
    assert_eq!(handle.store.load().await.unwrap().1, before, "every secret kept");

    // A marker that matches no stored secret is refused, naming the field.
    let forged = exported.document.replacen("${redacted:", "${redacted:00", 1);
    let error = apply(&mut admin, &forged, false, false).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::FailedPrecondition);
    assert!(error.message().contains("providers[0].accounts[0].api_key"), "{}", error.message());
    handle.shutdown().await;
}

#[tokio::test]
async fn prune_deletes_only_what_apply_made_and_imperative_objects_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let handle = start(dir.path()).await;
    let mut admin = client(&handle, ADMIN).await;
    let with_extra = format!("{DOCUMENT}  - {{name: batch, key: \"client-key-batch-0123456789\"}}\n");
    apply(&mut admin, &with_extra, false, false).await.unwrap();
    // An imperative key, made outside apply.
    let change = StoreChange { actor: "ops", action: "key.put", ownership: Ownership::Unmanaged };
    handle
        .store
        .write(change, |c| {
            let mut key = c.keys[0].clone();
            key.name = "hand-made".into();
            key.key_sha256.0[0] ^= 0xff;
            c.keys.push(key);
            Ok(())
        })
        .await
        .unwrap();

    // Without --prune: the managed key the file dropped is orphaned, the imperative one unmanaged; nothing changes.
    let plan = apply(&mut admin, DOCUMENT, false, false).await.unwrap();
    assert_eq!(
        actions(&plan),
        [
            (ObjectKind::Key, "batch".into(), ChangeAction::Orphaned),
            (ObjectKind::Key, "hand-made".into(), ChangeAction::Unmanaged),
        ]
    );
    assert!(!plan.applied);

    // A dry run of --prune shows the delete and writes nothing; the real one deletes exactly that.
    let plan = apply(&mut admin, DOCUMENT, true, true).await.unwrap();
    assert_eq!(actions(&plan)[0], (ObjectKind::Key, "batch".into(), ChangeAction::Delete));
    assert_eq!(handle.store.load().await.unwrap().1.keys.len(), 3);
    let plan = apply(&mut admin, DOCUMENT, false, true).await.unwrap();
    assert!(plan.applied);
    assert_eq!(
        actions(&plan),
        [
            (ObjectKind::Key, "batch".into(), ChangeAction::Delete),
            (ObjectKind::Key, "hand-made".into(), ChangeAction::Unmanaged),
        ]
    );
    let names: Vec<String> = handle.store.load().await.unwrap().1.keys.into_iter().map(|k| k.name).collect();
    assert_eq!(names, ["app", "hand-made"]);
    handle.shutdown().await;
}

#[tokio::test]
async fn bad_documents_and_viewers_are_refused_with_the_field_named() {
    let dir = tempfile::tempdir().unwrap();
    let handle = start(dir.path()).await;
    let mut admin = client(&handle, ADMIN).await;
    let broken = DOCUMENT.replace("targets: [{provider: openai", "targets: [{provider: nope");
    let error = apply(&mut admin, &broken, true, false).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(error.message().contains("models[0].targets[0].provider"), "{}", error.message());
    let error = apply(&mut admin, "providers: [", false, false).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(error.message().contains("invalid YAML"), "{}", error.message());
    let unresolved = DOCUMENT.replace("sk-team-a-0123456789", "${env:TEAM_A_KEY}");
    let error = apply(&mut admin, &unresolved, true, false).await.unwrap_err();
    assert!(error.message().contains("providers[0].accounts[0].api_key"), "{}", error.message());

    let mut viewer = client(&handle, VIEWER).await;
    let plan = apply(&mut viewer, DOCUMENT, true, false).await.unwrap();
    assert_eq!(plan.changes.len(), 3, "a viewer may plan");
    let error = apply(&mut viewer, DOCUMENT, false, false).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::PermissionDenied);
    assert!(viewer.export(pb::ExportRequest {}).await.is_ok(), "and read");
    let error = client(&handle, "not-a-token-0123456789").await.export(pb::ExportRequest {}).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::Unauthenticated);
    assert_eq!(handle.store.revision().await.unwrap(), 0, "nothing was written");
    handle.shutdown().await;
}

/// A viewer's dry run must not make the control plane read its own files or
/// environment: the contents would come back in the plan or in an error.
#[tokio::test]
async fn references_in_a_clients_document_are_never_read_and_dry_runs_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let handle = start(dir.path()).await;
    let secret = dir.path().join("master.key");
    std::fs::write(&secret, "server-side-secret-0123").unwrap();
    let file = format!("${{file:{}}}", secret.display());
    let mut viewer = client(&handle, VIEWER).await;
    let cases = [
        ("providers[0].accounts[0].api_key", DOCUMENT.replace("sk-team-a-0123456789", &file)),
        ("providers[0].base_url", DOCUMENT.replace("https://api.openai.com/v1", &format!("https://{file}/v1"))),
        ("keys[0].key", DOCUMENT.replace("client-key-app-0123456789", "${env:PATH}")),
        ("models[0].name", DOCUMENT.replace("name: gpt-4o-mini", &format!("name: \"{file}\""))),
    ];
    for (field, document) in &cases {
        let error = apply(&mut viewer, document, true, false).await.unwrap_err();
        assert_eq!(error.code(), tonic::Code::InvalidArgument, "{field}: {}", error.message());
        assert!(error.message().contains(field), "{field} named: {}", error.message());
        assert!(error.message().contains("is not read here"), "{}", error.message());
        assert!(!error.message().contains("server-side-secret"), "{}", error.message());
        let path = std::env::var("PATH").unwrap();
        assert!(!error.message().contains(&path), "{}", error.message());
    }
    assert_eq!(handle.store.revision().await.unwrap(), 0, "nothing was written");

    // Each dry run, planned or refused, leaves an audit row naming the caller.
    apply(&mut viewer, DOCUMENT, true, true).await.unwrap();
    let audit = viewer.list_audit(pb::AuditQuery::default()).await.unwrap().into_inner().entries;
    let dry: Vec<_> = audit.iter().filter(|e| e.action == "apply.dry_run").collect();
    assert_eq!(dry.len(), cases.len() + 1, "{audit:?}");
    assert!(dry.iter().all(|e| e.actor == "ci-viewer"), "{dry:?}");
    assert!(dry[0].after.contains("\"planned\"") && dry[0].after.contains("\"changes\":3"), "{:?}", dry[0]);
    assert!(dry[1].after.contains("\"refused\""), "{:?}", dry[1]);
    handle.shutdown().await;
}

/// Provider headers often carry credentials: they are secrets everywhere a
/// secret is (sealed at rest, markers in export, plans, audit and reads).
#[tokio::test]
async fn provider_headers_are_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let handle = start(dir.path()).await;
    let mut admin = client(&handle, ADMIN).await;
    let document = DOCUMENT.replace(
        "    base_url: https://api.openai.com/v1\n",
        "    base_url: https://api.openai.com/v1\n    headers: {X-Org-Key: \"hdr-secret-0123\"}\n",
    );
    let plan = apply(&mut admin, &document, false, false).await.unwrap();
    assert!(!format!("{plan:?}").contains("hdr-secret"), "{plan:?}");
    let stored = handle.store.load().await.unwrap().1;
    assert_eq!(stored.providers[0].headers["X-Org-Key"].expose(), "hdr-secret-0123");
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT spec FROM providers").fetch_all(handle.store.pool()).await.unwrap();
    assert!(rows.iter().all(|r| !r.contains("hdr-secret")), "sealed at rest: {rows:?}");

    let export = admin.export(pb::ExportRequest {}).await.unwrap().into_inner().document;
    assert!(!export.contains("hdr-secret") && export.contains("X-Org-Key: \"${redacted:"), "{export}");
    let listed = admin.list_providers(pb::ListRequest {}).await.unwrap().into_inner();
    assert!(!format!("{listed:?}").contains("hdr-secret"), "{listed:?}");
    let audit = admin.list_audit(pb::AuditQuery::default()).await.unwrap().into_inner();
    assert!(!format!("{audit:?}").contains("hdr-secret"), "{audit:?}");

    // The export applies back without a change, keeping the stored value.
    let plan = apply(&mut admin, &export, false, false).await.unwrap();
    assert!(!plan.applied, "{plan:?}");
    let stored = handle.store.load().await.unwrap().1;
    assert_eq!(stored.providers[0].headers["X-Org-Key"].expose(), "hdr-secret-0123");
    // A marker that does not match is refused, naming the header.
    let wrong = export.replace(stored.providers[0].headers["X-Org-Key"].fingerprint().as_str(), "0123456789ab");
    let error = apply(&mut admin, &wrong, true, false).await.unwrap_err();
    assert!(error.message().contains("providers[0].headers.X-Org-Key"), "{}", error.message());
    handle.shutdown().await;
}

async fn start(dir: &std::path::Path) -> Handle {
    common::admin::start(&format!("sqlite://{}/cp.db", dir.display()), None).await
}

async fn client(handle: &Handle, token: &str) -> Client {
    common::admin::client(handle, Some(token)).await
}

#[tokio::test]
async fn settings_with_no_effect_yet_are_named_in_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let handle = start(dir.path()).await;
    let mut admin = client(&handle, ADMIN).await;
    let plan = apply(&mut admin, DOCUMENT, true, false).await.unwrap();
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    let logging = format!("{DOCUMENT}\nsettings:\n  logging: {{request_bodies: true}}\n");
    let plan = apply(&mut admin, &logging, true, false).await.unwrap();
    assert_eq!(plan.warnings.len(), 1, "{:?}", plan.warnings);
    assert!(plan.warnings[0].starts_with("settings.logging: has no effect yet"), "{:?}", plan.warnings);
}
