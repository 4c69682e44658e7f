use super::*;
use crate::alert::conditions::Severity;
use crate::alert::notice::{Change, KEYWORD};
use std::collections::BTreeMap;
use switchyard_proto::model::Secret;

fn notice(change: Change, severity: Severity) -> Notice {
    Notice {
        change,
        key: "balance_low:main/a".into(),
        event: "balance_low".into(),
        severity,
        subject: "main/a balance 4.2 USD is below 10 USD".into(),
        text: "Top it up.".into(),
        labels: BTreeMap::from([("provider".to_owned(), "main".to_owned())]),
        since_ms: 1_700_000_000_000,
        at_ms: 1_700_000_060_000,
    }
}

fn query(url: &Url) -> BTreeMap<String, String> {
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

#[test]
fn dingtalk_signature_matches_the_documented_scheme() {
    // Python: base64.b64encode(hmac.new(b"SECabc", b"1700000000000\nSECabc", hashlib.sha256).digest())
    assert_eq!(dingtalk::sign("SECabc", 1_700_000_000_000), "jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM=");
    let n = [notice(Change::Firing, Severity::Warning)];
    let r = dingtalk::request(
        "https://oapi.dingtalk.com/robot/send?access_token=t",
        Some("SECabc"),
        &n,
        1_700_000_000_000,
        3800,
    )
    .unwrap();
    assert!(
        r.url
            .as_str()
            .ends_with("?access_token=t&timestamp=1700000000000&sign=jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM%3D"),
        "{}",
        r.url
    );
    assert_eq!(r.body["msgtype"], "markdown");
    let title = r.body["markdown"]["title"].as_str().unwrap();
    let text = r.body["markdown"]["text"].as_str().unwrap();
    assert!(title.contains(KEYWORD) && text.contains(KEYWORD), "keyword robots: {title} / {text}");
    assert!(text.contains("**FIRING** · warning · balance_low"), "{text}");
    // Unsigned: the URL as given.
    let r = dingtalk::request("https://oapi.dingtalk.com/robot/send?access_token=t", None, &n, 0, 3800).unwrap();
    assert_eq!(query(&r.url).len(), 1);
}

#[test]
fn feishu_signature_matches_the_documented_scheme() {
    // Python: base64.b64encode(hmac.new(b"1700000000\nfeishu-secret", b"", hashlib.sha256).digest())
    assert_eq!(feishu::sign("feishu-secret", 1_700_000_000), "OrBzY1Y01Gq+HgJsl+7OfWcMVwc7YocohQm5iiZwjhU=");
    let n = [notice(Change::Firing, Severity::Critical)];
    let hook = "https://open.feishu.cn/open-apis/bot/v2/hook/abc";
    let r = feishu::request(hook, Some("feishu-secret"), &n, 1_700_000_000_999, 3800).unwrap();
    assert_eq!(r.url.as_str(), hook);
    assert_eq!(
        (r.body["timestamp"].as_str(), r.body["sign"].as_str()),
        (Some("1700000000"), Some("OrBzY1Y01Gq+HgJsl+7OfWcMVwc7YocohQm5iiZwjhU="))
    );
    assert_eq!(r.body["msg_type"], "interactive");
    let card = &r.body["card"];
    assert_eq!(card["header"]["template"], "red");
    assert!(card["header"]["title"]["content"].as_str().unwrap().starts_with(KEYWORD), "{card}");
    assert_eq!(card["elements"][0]["tag"], "markdown");
    let r = feishu::request(hook, None, &[notice(Change::Resolved, Severity::Critical)], 0, 3800).unwrap();
    assert!(r.body.get("sign").is_none() && r.body.get("timestamp").is_none());
    assert_eq!(r.body["card"]["header"]["template"], "green");
}

#[test]
fn wecom_and_webhook_shapes() {
    let n = [notice(Change::Reminder, Severity::Warning)];
    let r = wecom::request("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", &n, 3800).unwrap();
    assert_eq!(r.body["msgtype"], "markdown");
    let content = r.body["markdown"]["content"].as_str().unwrap();
    assert!(content.starts_with("#### Switchyard STILL FIRING:") && content.len() <= 4096, "{content}");
    let r = webhook::request("https://hooks.example.com/x", &n).unwrap();
    let d = &r.body;
    assert_eq!(
        (d["source"].as_str(), d["event"].as_str(), d["state"].as_str()),
        (Some("switchyard"), Some("balance_low"), Some("firing"))
    );
    assert_eq!((d["reminder"].as_bool(), d["test"].as_bool()), (Some(true), Some(false)));
    assert_eq!((d["since"].as_str(), d["since_ms"].as_i64()), (Some("2023-11-14T22:13:20Z"), Some(1_700_000_000_000)));
    assert_eq!((d["at"].as_str(), d["severity"].as_str()), (Some("2023-11-14T22:14:20Z"), Some("warning")));
    assert_eq!(d["labels"]["provider"], "main");
    assert_eq!(d["key"], "balance_low:main/a");
    let kind = AlertChannelKind::Webhook { url: Secret::new("https://h/x") };
    assert_eq!(messages(&kind, vec![n[0].clone(), n[0].clone()]).len(), 2, "one POST per notice");
    let kind = AlertChannelKind::WeCom { webhook: Secret::new("https://h/x") };
    assert_eq!(messages(&kind, vec![n[0].clone(), n[0].clone()]).len(), 1, "one chat message");
}

#[test]
fn answers_with_an_error_code_are_failures() {
    let ok = StatusCode::OK;
    assert_eq!(dingtalk::check(ok, br#"{"errcode":0,"errmsg":"ok"}"#), Ok(()));
    let e = dingtalk::check(ok, br#"{"errcode":310000,"errmsg":"keywords not in content"}"#).unwrap_err();
    assert_eq!(e.message, "DingTalk refused the message: errcode 310000: keywords not in content");
    assert!(!e.retry);
    assert!(dingtalk::check(ok, br#"{"errcode":130101,"errmsg":"send too fast"}"#).unwrap_err().retry);
    assert!(!dingtalk::check(ok, b"<html>").unwrap_err().retry, "no errcode 0 is no success");
    assert!(dingtalk::check(StatusCode::BAD_GATEWAY, b"").unwrap_err().retry);
    assert!(!dingtalk::check(StatusCode::NOT_FOUND, b"").unwrap_err().retry);
    assert_eq!(feishu::check(ok, br#"{"code":0,"msg":"success","data":{}}"#), Ok(()));
    assert_eq!(feishu::check(ok, br#"{"StatusCode":0,"StatusMessage":"success"}"#), Ok(()));
    let e = feishu::check(
        ok,
        br#"{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}"#,
    )
    .unwrap_err();
    assert!(e.message.starts_with("Feishu refused the message: code 19021: sign match fail"), "{}", e.message);
    assert_eq!(wecom::check(ok, br#"{"errcode":0,"errmsg":"ok"}"#), Ok(()));
    assert!(wecom::check(ok, br#"{"errcode":45009,"errmsg":"api freq out of limit"}"#).unwrap_err().retry);
    assert!(!wecom::check(ok, br#"{"errcode":93000,"errmsg":"invalid webhook url"}"#).unwrap_err().retry);
    assert_eq!(http_status(StatusCode::NO_CONTENT), Ok(()));
    assert!(http_status(StatusCode::TOO_MANY_REQUESTS).unwrap_err().retry);
    assert!(!http_status(StatusCode::UNAUTHORIZED).unwrap_err().retry);
}

#[test]
fn a_channels_secrets_include_its_tokens() {
    let kind = AlertChannelKind::DingTalk {
        webhook: Secret::new("https://oapi.dingtalk.com/robot/send?access_token=ding-token-0123"),
        secret: Some(Secret::new("SECsigning")),
    };
    let s = secrets(&kind);
    assert!(s.contains(&"ding-token-0123".to_owned()) && s.contains(&"SECsigning".to_owned()), "{s:?}");
    let kind = AlertChannelKind::Feishu {
        webhook: Secret::new("https://open.feishu.cn/open-apis/bot/v2/hook/0f1e2d3c-feishu-token"),
        secret: None,
    };
    assert!(secrets(&kind).contains(&"0f1e2d3c-feishu-token".to_owned()));
}

#[tokio::test]
async fn an_unreachable_channel_fails_without_its_url() {
    // Port 1 on loopback: nothing listens.
    let channel = AlertChannel {
        name: "down".into(),
        kind: AlertChannelKind::WeCom {
            webhook: Secret::new("http://127.0.0.1:1/cgi-bin/webhook/send?key=wecom-key-0123"),
        },
    };
    let e = attempt(&client().unwrap(), &channel, &[notice(Change::Firing, Severity::Warning)]).await.unwrap_err();
    assert!(e.retry && e.message.contains("connect"), "{e:?}");
    assert!(!e.message.contains("wecom-key") && !e.message.contains("127.0.0.1"), "{e:?}");
}
