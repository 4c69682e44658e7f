#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The store on SQLite and on PostgreSQL (`SWITCHYARD_TEST_POSTGRES`, else the
//! local server; each test in its own database, dropped afterwards).

use std::collections::HashMap;
use std::sync::Arc;
use switchyard_control::crypto::MasterKey;
use switchyard_control::store::{Change, Ownership, Store, StoreError};
use switchyard_proto::canonical::config_hash;
use switchyard_proto::document::{self, Resolver};
use switchyard_proto::model::{ClientKey, Config, KeyHash};

mod common;

use common::*;

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const OTHER_KEY: &str = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn key() -> MasterKey {
    MasterKey::from_hex(KEY).unwrap()
}

fn env() -> HashMap<String, String> {
    [
        ("OPENAI_KEY_A", "sk-team-a-000000000000"),
        ("OPENAI_KEY_B", "sk-team-b-000000000000"),
        ("OPENROUTER_KEY", "sk-or-000000000000"),
        ("ANTHROPIC_KEY", "sk-ant-000000000000"),
        ("APP1_KEY", "app1-client-key-0123456789"),
        ("DING_WEBHOOK", "https://oapi.dingtalk.com/robot/send?access_token=tok"),
        ("DING_SECRET", "SECdingsecret"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// DESIGN.md's full example: every field.
fn full_config() -> Config {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto/tests/fixtures");
    let text = std::fs::read_to_string(format!("{dir}/full.yaml")).unwrap();
    document::parse(&text, &Resolver::with_env(env()).relative_to(dir)).unwrap()
}

fn admin() -> Change<'static> {
    Change { actor: "test", action: "edit", ownership: Ownership::Unmanaged }
}

#[tokio::test]
async fn a_config_round_trips_through_every_table() {
    let mut hashes = Vec::new();
    for db in databases().await {
        let store = Store::open(&db.url, key()).await.unwrap();
        assert_eq!(store.revision().await.unwrap(), 0);
        let config = full_config();
        let rev = store.apply_document(config.clone(), "test", "bootstrap").await.unwrap();
        assert_eq!(rev, 1, "{}", db.label);
        let (loaded_rev, loaded) = store.load().await.unwrap();
        assert_eq!(loaded_rev, 1);
        assert_eq!(config_hash(&loaded), config_hash(&config), "{}: same content", db.label);
        // Order aside, every field came back.
        let mut sorted = config.clone();
        sorted.providers.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(loaded.providers, sorted.providers, "{}", db.label);
        assert_eq!(loaded.settings, config.settings, "{}", db.label);
        assert_eq!(loaded.models, config.models, "{}", db.label);
        assert_eq!(loaded.keys, config.keys, "{}", db.label);
        hashes.push((db.label, config_hash(&loaded)));
        store.close().await;
    }
    // Identical stores give identical hashes on both backends.
    assert!(hashes.windows(2).all(|w| w[0].1 == w[1].1), "{hashes:?}");
}

#[tokio::test]
async fn writes_bump_the_revision_and_refusals_change_nothing() {
    for db in databases().await {
        let store = Store::open(&db.url, key()).await.unwrap();
        store.apply_document(full_config(), "test", "bootstrap").await.unwrap();
        // A second apply of the same document: no change, no new revision.
        assert_eq!(store.apply_document(full_config(), "test", "bootstrap").await.unwrap(), 1, "{}", db.label);

        let rev = store
            .write(admin(), |c| {
                let openai = c.providers.iter_mut().find(|p| p.name == "openai").unwrap();
                openai.accounts[0].weight = 7;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(rev, 2);
        assert_eq!(store.load().await.unwrap().1.provider("openai").unwrap().accounts[0].weight, 7);

        let before = store.load().await.unwrap();
        let refused = store
            .write(admin(), |c| {
                c.models[0].targets[0].provider = "nope".into();
                c.providers[0].accounts[0].weight = 9;
                Ok(())
            })
            .await
            .unwrap_err();
        match refused {
            StoreError::Invalid(errors) => {
                assert_eq!(
                    errors.to_string(),
                    "models[0].targets[0].provider: unknown provider \"nope\"",
                    "{}",
                    db.label
                )
            }
            other => panic!("{}: {other:?}", db.label),
        }
        assert_eq!(store.load().await.unwrap(), before, "{}: nothing changed", db.label);
        // Deleting a provider still referenced by a route is refused too.
        let refused = store.write(admin(), |c| {
            c.providers.retain(|p| p.name != "openrouter");
            Ok(())
        });
        assert!(matches!(refused.await, Err(StoreError::Invalid(_))), "{}", db.label);
        assert_eq!(store.revision().await.unwrap(), 2);

        // Deleting is a write like the others, and is audited.
        let rev = store
            .write(admin(), |c| {
                c.keys.clear();
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(rev, 3);
        let audit: Vec<(String, String, String)> =
            sqlx::query_as("SELECT actor, action, object_kind FROM audit_log ORDER BY id")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert!(audit.iter().any(|(_, action, kind)| action == "bootstrap" && kind == "provider"));
        assert_eq!(audit.last().unwrap(), &("test".to_owned(), "edit".to_owned(), "key".to_owned()));
        store.close().await;
    }
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest_and_a_wrong_key_refuses_to_start() {
    for db in databases().await {
        let store = Store::open(&db.url, key()).await.unwrap();
        store.apply_document(full_config(), "test", "bootstrap").await.unwrap();
        let sealed: Vec<String> =
            sqlx::query_scalar("SELECT api_key FROM accounts").fetch_all(store.pool()).await.unwrap();
        assert!(!sealed.is_empty());
        let everything: Vec<String> = sqlx::query_scalar(
            "SELECT spec FROM providers UNION ALL SELECT api_key FROM accounts UNION ALL SELECT secret_a FROM alert_channels \
             UNION ALL SELECT COALESCE(before, '') || COALESCE(after, '') FROM audit_log",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        let all = everything.join("\n");
        for secret in
            ["sk-team-a-000000000000", "sk-or-000000000000", "access_token=tok", "SECdingsecret", "app1-client-key"]
        {
            assert!(!all.contains(secret), "{}: {secret} stored in the clear", db.label);
        }
        let hash: String =
            sqlx::query_scalar("SELECT key_sha256 FROM client_keys").fetch_one(store.pool()).await.unwrap();
        assert_eq!(hash, KeyHash::of("app1-client-key-0123456789").to_hex(), "client keys only as SHA-256");
        store.close().await;

        let err = Store::open(&db.url, MasterKey::from_hex(OTHER_KEY).unwrap()).await.unwrap_err();
        assert!(matches!(err, StoreError::WrongMasterKey), "{}: {err}", db.label);
        assert!(err.to_string().contains("master key does not match"));
        // The right key still opens it, secrets intact.
        let store = Store::open(&db.url, key()).await.unwrap();
        let (_, config) = store.load().await.unwrap();
        assert_eq!(config.provider("openai").unwrap().accounts[0].api_key.expose(), "sk-team-a-000000000000");
        store.close().await;
    }
}

#[tokio::test]
async fn concurrent_writers_lose_nothing() {
    for db in databases().await {
        let store = Arc::new(Store::open(&db.url, key()).await.unwrap());
        store.apply_document(full_config(), "test", "bootstrap").await.unwrap();
        let base = store.revision().await.unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .write(admin(), move |c| {
                            let mut key: ClientKey = c.keys[0].clone();
                            key.name = format!("k{i}");
                            key.key_sha256 = KeyHash::of(&format!("concurrent-key-{i}-0123456789"));
                            c.keys.push(key);
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let (rev, config) = store.load().await.unwrap();
        assert_eq!(rev, base + 16, "{}", db.label);
        assert_eq!(config.keys.len(), 17, "{}: every writer's key is there", db.label);
        store.close().await;
    }
}

#[tokio::test]
async fn redacted_secrets_keep_the_stored_one_only_when_they_match() {
    for db in databases().await {
        let store = Store::open(&db.url, key()).await.unwrap();
        store.apply_document(full_config(), "test", "bootstrap").await.unwrap();
        let mut doc = full_config();
        let stored = doc.providers[0].accounts[0].api_key.clone();
        doc.providers[0].accounts[0].api_key = stored.to_redacted();
        doc.providers[0].accounts[0].weight = 5;
        assert_eq!(store.apply_document(doc.clone(), "test", "apply").await.unwrap(), 2);
        let (_, config) = store.load().await.unwrap();
        assert_eq!(config.provider("openai").unwrap().accounts[0].api_key, stored, "{}", db.label);

        doc.providers[0].accounts[0].api_key = switchyard_proto::model::Secret::redacted_marker("0123456789ab");
        let err = store.apply_document(doc, "test", "apply").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "providers[0].accounts[0].api_key: ${redacted:0123456789ab} does not match the stored secret; give the secret itself"
        );
        assert_eq!(store.revision().await.unwrap(), 2);
        store.close().await;
    }
}

#[tokio::test]
async fn apply_marks_what_it_creates_as_managed() {
    for db in databases().await {
        let store = Store::open(&db.url, key()).await.unwrap();
        store.apply_document(full_config(), "test", "bootstrap").await.unwrap();
        store
            .write(admin(), |c| {
                let mut key = c.keys[0].clone();
                key.name = "by-hand".into();
                key.key_sha256 = KeyHash::of("by-hand-key-0123456789");
                c.keys.push(key);
                Ok(())
            })
            .await
            .unwrap();
        let managed = store.managed().await.unwrap();
        assert!(managed[&("client_keys".to_owned(), "app-1".to_owned())], "{}", db.label);
        assert!(!managed[&("client_keys".to_owned(), "by-hand".to_owned())], "{}", db.label);
        assert!(managed[&("providers".to_owned(), "openai".to_owned())]);
        store.close().await;
    }
}

#[tokio::test]
async fn tokens_are_stored_hashed_and_checked() {
    use switchyard_control::store::{ANY_NODE, Role};
    for db in databases().await {
        let store = Store::open(&db.url, key()).await.unwrap();
        store.put_admin_token("ops", Role::Admin, "admin-token-0123456789").await.unwrap();
        store.put_admin_token("dash", Role::Viewer, "viewer-token-0123456789").await.unwrap();
        assert_eq!(store.admin_role("admin-token-0123456789").await.unwrap(), Some(Role::Admin), "{}", db.label);
        assert_eq!(store.admin_role("viewer-token-0123456789").await.unwrap(), Some(Role::Viewer));
        assert_eq!(store.admin_role("not-a-token-0123456789").await.unwrap(), None);
        assert!(matches!(store.put_admin_token("short", Role::Admin, "short").await, Err(StoreError::Refused(_))));
        assert!(store.revoke_admin_token("ops").await.unwrap());
        assert_eq!(store.admin_role("admin-token-0123456789").await.unwrap(), None, "revoked");

        store.put_node_token("edge-1", "edge-1", "node-token-edge-1-0123", "").await.unwrap();
        store.put_node_token("bootstrap", ANY_NODE, "node-token-bootstrap-0123", "").await.unwrap();
        assert!(store.node_token_allows("node-token-edge-1-0123", "edge-1").await.unwrap());
        assert!(!store.node_token_allows("node-token-edge-1-0123", "edge-2").await.unwrap(), "bound to its node");
        assert!(store.node_token_allows("node-token-bootstrap-0123", "edge-2").await.unwrap());
        assert!(store.revoke_node_token("edge-1").await.unwrap());
        assert!(!store.node_token_allows("node-token-edge-1-0123", "edge-1").await.unwrap());

        let stored: Vec<String> =
            sqlx::query_scalar("SELECT token_sha256 FROM admin_tokens UNION ALL SELECT token_sha256 FROM node_tokens")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(stored.len(), 4);
        assert!(stored.iter().all(|h| h.len() == 64 && !h.contains("token")), "{}: only hashes", db.label);
        store.close().await;
    }
}

#[tokio::test]
async fn balances_are_runtime_state_that_apply_never_touches() {
    use switchyard_control::store::Balance;
    for db in databases().await {
        let store = Store::open(&db.url, key()).await.unwrap();
        store.apply_document(full_config(), "test", "bootstrap").await.unwrap();
        let balance = Balance {
            provider: "openai".into(),
            account: "team-a".into(),
            currency: "USD".into(),
            amount_micros: 12_345_678,
            source: "manual".into(),
            poller: None,
            updated_at_ms: 1,
        };
        assert_eq!(store.set_balance(&balance, "test").await.unwrap(), 1, "{}", db.label);
        assert_eq!(store.revision().await.unwrap(), 1, "the Config revision does not move");
        // Applying the document again leaves the balance alone.
        store.apply_document(full_config(), "test", "bootstrap").await.unwrap();
        let mut doc = full_config();
        doc.providers[0].accounts[0].weight = 3;
        store.apply_document(doc, "test", "apply").await.unwrap();
        assert_eq!(store.balances().await.unwrap(), vec![balance.clone()], "{}", db.label);
        assert_eq!(store.runtime_revision().await.unwrap(), 1);
        let missing = Balance { account: "nope".into(), ..balance.clone() };
        assert!(matches!(store.set_balance(&missing, "test").await, Err(StoreError::Refused(_))));
        let bad = Balance { currency: "usd".into(), ..balance };
        assert!(matches!(store.set_balance(&bad, "test").await, Err(StoreError::Refused(_))));
        assert_eq!(store.runtime_revision().await.unwrap(), 1, "refusals change nothing");
        store.close().await;
    }
}

#[tokio::test]
async fn the_node_registry_live_count_and_spend_are_shared_runtime_state() {
    use switchyard_control::store::{NackRecord, NodeRecord, now_ms};
    for db in databases().await {
        let store = Store::open(&db.url, key()).await.unwrap();
        let now = now_ms();
        let node = |id: &str, connected: bool, last_seen_ms: i64| NodeRecord {
            id: id.into(),
            region: "eu".into(),
            zone: "eu-1a".into(),
            labels: [("team".to_owned(), "search".to_owned())].into(),
            build_version: "0.1.0".into(),
            boot_id: "boot-1".into(),
            connected,
            config: (3, "ab".repeat(32)),
            runtime: (0, String::new()),
            last_nack: None,
            first_seen_ms: now - 1000,
            last_seen_ms,
            last_heartbeat_ms: 0,
            inflight_requests: 0,
        };
        store.record_node(&node("edge-1", true, now)).await.unwrap();
        store.record_node(&node("edge-2", true, now)).await.unwrap();
        // Connected, but its replica stopped stamping it long ago: lost.
        store.record_node(&node("edge-3", true, now - 3_600_000)).await.unwrap();
        store.record_node(&node("edge-4", false, now)).await.unwrap();
        assert_eq!(store.sync_live_nodes(60_000).await.unwrap(), (2, true), "{}", db.label);
        assert_eq!(store.runtime_revision().await.unwrap(), 1);
        assert_eq!(store.sync_live_nodes(60_000).await.unwrap(), (2, false), "no change, no bump");
        assert_eq!(store.live_nodes().await.unwrap(), 2);
        assert_eq!(store.runtime_revision().await.unwrap(), 1);
        assert_eq!(store.revision().await.unwrap(), 0, "the Config revision never moves");

        // An update keeps the first sighting and records the NACK.
        let nack = NackRecord { kind: "config".into(), error: "models[0]: bad".into(), at_ms: now, superseded: false };
        let mut updated = node("edge-1", false, now + 5);
        updated.first_seen_ms = now + 5;
        updated.last_nack = Some(nack.clone());
        store.record_node(&updated).await.unwrap();
        let fleet = store.fleet().await.unwrap();
        assert_eq!(fleet.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["edge-1", "edge-2", "edge-3", "edge-4"]);
        assert_eq!(fleet[0], NodeRecord { first_seen_ms: now - 1000, ..updated }, "{}", db.label);
        assert_eq!(fleet[1], node("edge-2", true, now));
        assert_eq!(store.sync_live_nodes(60_000).await.unwrap(), (1, true));
        assert_eq!(store.runtime_revision().await.unwrap(), 2);

        // Spend adds up per (key, period) and bumps the Runtime revision.
        assert_eq!(store.add_spend("k", 1_000, "USD", 250).await.unwrap(), 3);
        assert_eq!(store.add_spend("k", 1_000, "USD", 50).await.unwrap(), 4);
        store.add_spend("k", 0, "USD", 7).await.unwrap();
        store.add_spend("k", 10, "USD", 1).await.unwrap();
        assert!(matches!(store.add_spend("k", 1_000, "EUR", 1).await, Err(StoreError::Refused(_))), "{}", db.label);
        assert_eq!(store.runtime_revision().await.unwrap(), 6, "a refusal changes nothing");
        let spend = store.spend(1_000).await.unwrap();
        assert_eq!(spend.get(&("k".to_owned(), 1_000)), Some(&("USD".to_owned(), 300)), "{}", db.label);
        assert_eq!(spend.get(&("k".to_owned(), 0)), Some(&("USD".to_owned(), 7)), "totals are always read");
        assert_eq!(spend.len(), 2, "older periods are not");
        store.close().await;
    }
}

#[tokio::test]
async fn discovered_models_are_runtime_state_claimed_once_and_pruned_with_their_provider() {
    use std::collections::BTreeSet;
    for db in databases().await {
        let store = Store::open(&db.url, key()).await.unwrap();
        store.apply_document(full_config(), "test", "bootstrap").await.unwrap();
        let (config, runtime) = (store.revision().await.unwrap(), store.runtime_revision().await.unwrap());
        // One claim per interval, whoever asks.
        assert!(store.claim_discovery("openai", 10_000, 1_000).await.unwrap(), "{}", db.label);
        assert!(!store.claim_discovery("openai", 10_500, 1_000).await.unwrap(), "claimed already");
        assert!(store.claim_discovery("openai", 11_000, 1_000).await.unwrap(), "due again");

        // A list: stored, the Runtime revision moves once, not the Config's.
        let many: BTreeSet<String> = (0..450).map(|i| format!("model-{i:03}")).collect();
        assert!(store.record_models("openai", Ok(&many), 11_000).await.unwrap());
        assert!(!store.record_models("openai", Ok(&many), 11_100).await.unwrap(), "the same list changes nothing");
        assert_eq!(store.runtime_revision().await.unwrap(), runtime + 1, "{}", db.label);
        assert_eq!(store.revision().await.unwrap(), config);
        let found = store.provider_models("openai").await.unwrap();
        assert_eq!((found.models.len(), found.fetched_at_ms, found.error.as_deref()), (450, 11_100, None));

        // A failed read keeps the list and says why.
        assert!(!store.record_models("openai", Err("HTTP 401: bad key"), 12_000).await.unwrap());
        let found = store.provider_models("openai").await.unwrap();
        assert_eq!((found.models, found.fetched_at_ms, found.checked_at_ms), (many, 11_100, 12_000));
        assert_eq!(found.error.as_deref(), Some("HTTP 401: bad key"));

        // A shorter list replaces it; a deleted provider's list goes.
        let two: BTreeSet<String> = ["a".to_owned(), "b".to_owned()].into();
        assert!(store.record_models("openai", Ok(&two), 13_000).await.unwrap());
        assert_eq!(store.discovered_models().await.unwrap().get("openai"), Some(&two));
        assert!(!store.prune_discovery(&["openai".to_owned()].into()).await.unwrap(), "nothing to prune");
        assert!(store.prune_discovery(&BTreeSet::new()).await.unwrap());
        assert!(store.discovered_models().await.unwrap().is_empty(), "{}", db.label);
        assert_eq!(store.provider_models("openai").await.unwrap(), Default::default());
        assert_eq!(store.runtime_revision().await.unwrap(), runtime + 3);
        store.close().await;
    }
}
