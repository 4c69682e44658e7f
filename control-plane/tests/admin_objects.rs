#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Admin service: routes, client keys (generated keys shown once),
//! settings and enabled flags, on SQLite and PostgreSQL.

mod common;

use common::admin::*;
use sha2::{Digest, Sha256};
use switchyard_proto::pb::{self, ObjectKind};
use tonic::Code;

#[tokio::test]
async fn routes_keys_settings_and_enabled_flags() {
    for (db, handle) in control_planes(DOCUMENT).await {
        let label = db.label;
        let mut admin = client(&handle, Some(ADMIN)).await;

        // Routes.
        let put = |r: pb::Route, create_only: bool, update_only: bool| pb::PutRouteRequest {
            route: Some(r),
            create_only,
            update_only,
        };
        let revision = handle.store.revision().await.unwrap();
        let status = refused(admin.put_route(put(route("r1", "nope"), false, false)).await, Code::InvalidArgument, "");
        assert_eq!(status.message(), "route.targets[0].provider: unknown provider \"nope\"", "{label}");
        assert_eq!(handle.store.revision().await.unwrap(), revision, "{label}: a refused put changes nothing");
        let mut bad = route("r1", "openai");
        bad.strategy = 42;
        refused(
            admin.put_route(put(bad, false, false)).await,
            Code::InvalidArgument,
            "route.strategy: unknown value 42",
        );
        let mut clash = route("r1", "openai");
        clash.aliases = vec!["smart".into()];
        refused(admin.put_route(put(clash, false, false)).await, Code::InvalidArgument, "route.aliases[0]");
        admin.put_route(put(route("r1", "spare"), true, false)).await.unwrap();
        refused(
            admin.put_route(put(route("r1", "spare"), true, false)).await,
            Code::AlreadyExists,
            "route \"r1\" exists",
        );
        refused(admin.put_route(put(route("r2", "spare"), false, true)).await, Code::NotFound, "route \"r2\"");
        let mut aliased = route("r1", "openai");
        aliased.aliases = vec!["fast".into()];
        admin.put_route(put(aliased, false, true)).await.unwrap();
        let routes = admin.list_routes(pb::ListRequest {}).await.unwrap().into_inner().routes;
        let r1 = routes.iter().find(|r| r.route.as_ref().unwrap().name == "r1").unwrap();
        assert_eq!(r1.route.as_ref().unwrap().aliases, ["fast"]);
        assert!(!r1.meta.unwrap().managed);
        admin.delete_route(object(ObjectKind::Route, "", "r1")).await.unwrap();
        refused(admin.delete_route(object(ObjectKind::Route, "", "r1")).await, Code::NotFound, "route \"r1\"");

        // Keys: a generated key is shown once; only its SHA-256 is kept.
        let created = admin
            .create_key(pb::CreateKeyRequest { key: Some(key("generated", vec![9; 3])) })
            .await
            .unwrap()
            .into_inner();
        assert!(created.key.starts_with("sk-sy-") && created.key.len() >= 40, "{}", created.key);
        assert_eq!(created.config_version, handle.store.revision().await.unwrap());
        let keys = admin.list_keys(pb::ListRequest {}).await.unwrap().into_inner();
        let generated = keys.keys.iter().find(|k| k.key.as_ref().unwrap().name == "generated").unwrap();
        assert_eq!(generated.key.as_ref().unwrap().key_sha256, Sha256::digest(&created.key).to_vec());
        assert!(!format!("{keys:?}").contains(&created.key), "the key itself is never returned again");
        let again = admin.create_key(pb::CreateKeyRequest { key: Some(key("generated", vec![])) }).await;
        refused(again, Code::AlreadyExists, "key \"generated\" exists");
        refused(admin.create_key(pb::CreateKeyRequest { key: None }).await, Code::InvalidArgument, "key: required");
        let audit = admin.list_audit(pb::AuditQuery::default()).await.unwrap().into_inner();
        assert!(!format!("{audit:?}").contains(&created.key), "nor audited");

        let put_key = |k: pb::ClientKey, create_only: bool, update_only: bool| pb::PutKeyRequest {
            key: Some(k),
            create_only,
            update_only,
        };
        let hash = Sha256::digest("client-key-two-0123456789").to_vec();
        refused(admin.put_key(put_key(key("two", hash.clone()), false, true)).await, Code::NotFound, "key \"two\"");
        refused(
            admin.put_key(put_key(key("two", vec![1; 5]), false, false)).await,
            Code::InvalidArgument,
            "key.key_sha256: must be 32 bytes",
        );
        refused(
            admin.put_key(put_key(key("two", vec![]), false, false)).await,
            Code::InvalidArgument,
            "key.key_sha256: required",
        );
        let mut bad_model = key("two", hash.clone());
        bad_model.models = Some(pb::ModelAllowlist { models: vec!["nope".into()] });
        refused(
            admin.put_key(put_key(bad_model, false, false)).await,
            Code::InvalidArgument,
            "key.models[0]: unknown model",
        );
        let dup = key("two", Sha256::digest(APP_KEY).to_vec());
        refused(admin.put_key(put_key(dup, false, false)).await, Code::InvalidArgument, "same key value");
        admin.put_key(put_key(key("two", hash.clone()), true, false)).await.unwrap();
        refused(
            admin.put_key(put_key(key("two", hash.clone()), true, false)).await,
            Code::AlreadyExists,
            "key \"two\" exists",
        );
        let mut limited = key("two", vec![]);
        limited.rpm = Some(10);
        admin.put_key(put_key(limited, false, true)).await.unwrap();
        let (_, config) = handle.store.load().await.unwrap();
        let two = config.keys.iter().find(|k| k.name == "two").unwrap();
        assert_eq!(
            (two.rpm, two.key_sha256.0.to_vec()),
            (Some(10), hash.clone()),
            "no hash given: the stored one stays"
        );
        admin.delete_key(object(ObjectKind::Key, "", "two")).await.unwrap();
        refused(admin.delete_key(object(ObjectKind::Key, "", "two")).await, Code::NotFound, "key \"two\"");

        // Enabled flags.
        let set = |kind: ObjectKind, parent: &str, name: &str, enabled: bool| pb::SetEnabledRequest {
            object: Some(object(kind, parent, name)),
            enabled,
        };
        admin.set_enabled(set(ObjectKind::Provider, "", "spare", false)).await.unwrap();
        admin.set_enabled(set(ObjectKind::Account, "openai", "team-b", false)).await.unwrap();
        admin.set_enabled(set(ObjectKind::Key, "", "app", false)).await.unwrap();
        let (_, config) = handle.store.load().await.unwrap();
        assert!(!config.provider("spare").unwrap().enabled);
        assert!(!config.provider("openai").unwrap().account("team-b").unwrap().enabled);
        assert!(config.provider("openai").unwrap().account("team-a").unwrap().enabled);
        assert!(!config.keys[0].enabled);
        assert!(!provider_named(&mut admin, "spare").await.enabled);
        admin.set_enabled(set(ObjectKind::Provider, "", "spare", true)).await.unwrap();
        assert!(provider_named(&mut admin, "spare").await.enabled);
        let status = refused(
            admin.set_enabled(set(ObjectKind::Route, "", "gpt-4o-mini", false)).await,
            Code::InvalidArgument,
            "",
        );
        assert!(status.message().starts_with("object.kind: "), "{status:?}");
        refused(
            admin.set_enabled(set(ObjectKind::Settings, "", "x", false)).await,
            Code::InvalidArgument,
            "object.kind",
        );
        refused(admin.set_enabled(set(ObjectKind::Key, "", "ghost", false)).await, Code::NotFound, "key \"ghost\"");
        refused(
            admin.set_enabled(set(ObjectKind::Account, "", "team-a", false)).await,
            Code::InvalidArgument,
            "object.parent",
        );
        refused(
            admin.set_enabled(pb::SetEnabledRequest { object: None, enabled: true }).await,
            Code::InvalidArgument,
            "object: required",
        );

        // Settings round trip: markers keep the stored channel secrets.
        let mut settings = admin.get_settings(pb::GetSettingsRequest {}).await.unwrap().into_inner();
        settings.retry.as_mut().unwrap().max_attempts = 5;
        settings.default_model = Some("smart".into());
        let done = admin.put_settings(settings.clone()).await.unwrap().into_inner();
        assert_eq!(handle.publisher.current().config.version, done.config_version);
        let back = admin.get_settings(pb::GetSettingsRequest {}).await.unwrap().into_inner();
        assert_eq!(back, settings, "{label}: what was put is what is read");
        let (_, config) = handle.store.load().await.unwrap();
        assert_eq!(config.settings.retry.max_attempts, 5);
        match &config.settings.alerts.channels[0].kind {
            switchyard_proto::model::AlertChannelKind::DingTalk { webhook, secret } => {
                assert_eq!(webhook.expose(), DING_WEBHOOK);
                assert_eq!(secret.as_ref().unwrap().expose(), DING_SECRET);
            }
            other => panic!("{other:?}"),
        }
        let mut wrong = settings.clone();
        let channel = &mut wrong.alerts.as_mut().unwrap().channels[1];
        channel.kind = Some(pb::alert_channel::Kind::Webhook(pb::WebhookChannel {
            url: Some(pb::SecretValue { value: "${redacted:00000000}".into() }),
        }));
        let status = refused(admin.put_settings(wrong).await, Code::FailedPrecondition, "does not match");
        assert!(status.message().starts_with("settings.alerts.channels[1].url: "), "{status:?}");
        let mut missing = settings.clone();
        missing.timeout = None;
        refused(admin.put_settings(missing).await, Code::InvalidArgument, "settings.timeout");
        let mut unknown = settings.clone();
        unknown.default_model = Some("nope".into());
        refused(admin.put_settings(unknown).await, Code::InvalidArgument, "settings.default_model: unknown model");
        handle.shutdown().await;
    }
}
