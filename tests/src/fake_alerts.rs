//! Fake alert receivers, one HTTP server for all of them: DingTalk custom
//! robots, Feishu/Lark custom bots, WeCom group robots and generic JSON
//! webhooks, each registered under a name with its own token in its URL.
//! Like the real ones they check what they get: the token, the signature
//! (recomputed from the secret; a timestamp more than an hour off is
//! refused), the keyword of a keyword robot, the message shape, and answer
//! HTTP 200 with the provider's error code when they refuse. Accepted
//! messages are recorded; every request is counted. A receiver can be made
//! to hang or to fail with a status for a number of requests.
//!
//! Test support: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::hmac;
use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How far a signed timestamp may be from now (the providers allow an hour).
const MAX_SKEW_MS: i64 = 3_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    DingTalk,
    Feishu,
    WeCom,
    Webhook,
}

/// What a receiver does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Checks it and answers as the provider does.
    Accept,
    /// Never answers.
    Hang,
    /// Answers this HTTP status to the next `times` requests, then accepts.
    Fail { status: u16, times: u32 },
}

/// An accepted message.
#[derive(Debug, Clone)]
pub struct Message {
    pub receiver: String,
    pub kind: Kind,
    /// The JSON body as sent.
    pub body: Value,
    /// The message's text: DingTalk's title and text, Feishu's card title and
    /// markdown, WeCom's content, a webhook's whole body.
    pub text: String,
    pub at: Instant,
}

struct Receiver {
    name: String,
    kind: Kind,
    secret: Option<String>,
    keyword: Option<String>,
    behaviour: Behaviour,
}

#[derive(Default)]
struct Inner {
    /// By token.
    receivers: HashMap<String, Receiver>,
    messages: Vec<Message>,
    /// Requests per receiver name (accepted, refused, failed or hung).
    requests: HashMap<String, u32>,
    /// Why requests were refused, by receiver name.
    refusals: HashMap<String, Vec<String>>,
}

pub struct FakeAlerts {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    /// Bumped on every request, to wait on.
    seen: watch::Sender<u64>,
    task: JoinHandle<()>,
}

impl Drop for FakeAlerts {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn b64(tag: hmac::Tag) -> String {
    base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
}

/// DingTalk's documented signature.
pub fn dingtalk_sign(secret: &str, timestamp_ms: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    b64(hmac::sign(&key, format!("{timestamp_ms}\n{secret}").as_bytes()))
}

/// Feishu's documented signature: the HMAC is keyed with the string to sign, over nothing.
pub fn feishu_sign(secret: &str, timestamp_s: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, format!("{timestamp_s}\n{secret}").as_bytes());
    b64(hmac::sign(&key, b""))
}

impl FakeAlerts {
    pub async fn start() -> FakeAlerts {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Mutex::new(Inner::default()));
        let (seen, _) = watch::channel(0);
        let task = tokio::spawn(serve(listener, inner.clone(), seen.clone()));
        FakeAlerts { addr, inner, seen, task }
    }

    fn register(&self, name: &str, kind: Kind, secret: Option<&str>, keyword: Option<&str>) -> String {
        let token = format!("{name}-token-{:x}", now_ms());
        let receiver = Receiver {
            name: name.to_owned(),
            kind,
            secret: secret.map(str::to_owned),
            keyword: keyword.map(str::to_owned),
            behaviour: Behaviour::Accept,
        };
        self.inner.lock().receivers.insert(token.clone(), receiver);
        let base = format!("http://{}", self.addr);
        match kind {
            Kind::DingTalk => format!("{base}/robot/send?access_token={token}"),
            Kind::Feishu => format!("{base}/open-apis/bot/v2/hook/{token}"),
            Kind::WeCom => format!("{base}/cgi-bin/webhook/send?key={token}"),
            Kind::Webhook => format!("{base}/hook/{token}"),
        }
    }

    /// A DingTalk robot; its webhook URL. `secret`: the "sign" setting; `keyword`: the keyword setting.
    pub fn dingtalk(&self, name: &str, secret: Option<&str>, keyword: Option<&str>) -> String {
        self.register(name, Kind::DingTalk, secret, keyword)
    }

    pub fn feishu(&self, name: &str, secret: Option<&str>, keyword: Option<&str>) -> String {
        self.register(name, Kind::Feishu, secret, keyword)
    }

    pub fn wecom(&self, name: &str) -> String {
        self.register(name, Kind::WeCom, None, None)
    }

    pub fn webhook(&self, name: &str) -> String {
        self.register(name, Kind::Webhook, None, None)
    }

    pub fn set(&self, name: &str, behaviour: Behaviour) {
        for r in self.inner.lock().receivers.values_mut().filter(|r| r.name == name) {
            r.behaviour = behaviour;
        }
    }

    /// The messages `name` accepted, in order.
    pub fn messages(&self, name: &str) -> Vec<Message> {
        self.inner.lock().messages.iter().filter(|m| m.receiver == name).cloned().collect()
    }

    /// Requests `name` received, whatever became of them.
    pub fn requests(&self, name: &str) -> u32 {
        self.inner.lock().requests.get(name).copied().unwrap_or(0)
    }

    /// Why `name` refused requests (bad signature, stale timestamp, missing keyword...).
    pub fn refusals(&self, name: &str) -> Vec<String> {
        self.inner.lock().refusals.get(name).cloned().unwrap_or_default()
    }

    /// Waits (20 s at most) until `check` holds.
    pub async fn until(&self, what: &str, check: impl Fn(&FakeAlerts) -> bool) {
        let mut seen = self.seen.subscribe();
        let waited = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if check(self) {
                    return;
                }
                let _ = seen.changed().await;
            }
        })
        .await;
        let all: Vec<(String, String)> =
            self.inner.lock().messages.iter().map(|m| (m.receiver.clone(), m.text.clone())).collect();
        assert!(waited.is_ok(), "never: {what}; messages: {all:#?}");
    }

    /// The messages of `name` once there are `n` (20 s at most).
    pub async fn wait_for(&self, name: &str, n: usize) -> Vec<Message> {
        self.until(&format!("{n} messages to {name}"), |f| f.messages(name).len() >= n).await;
        self.messages(name)
    }
}

async fn serve(listener: TcpListener, inner: Arc<Mutex<Inner>>, seen: watch::Sender<u64>) {
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (inner, seen, builder) = (inner.clone(), seen.clone(), builder.clone());
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        let (inner, seen) = (inner.clone(), seen.clone());
                        async move { Ok::<_, Infallible>(handle(&inner, &seen, req).await) }
                    });
                    let _ = builder.serve_connection(TokioIo::new(stream), service).await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response.headers_mut().insert(http::header::CONTENT_TYPE, "application/json".parse().unwrap());
    response
}

/// The token in a request: DingTalk's `access_token`, WeCom's `key`, or the path's last segment.
fn token(req: &Request<Incoming>) -> String {
    let query: HashMap<String, String> =
        req.uri().query().map(|q| url_pairs(q).into_iter().collect()).unwrap_or_default();
    query
        .get("access_token")
        .or_else(|| query.get("key"))
        .cloned()
        .unwrap_or_else(|| req.uri().path().rsplit('/').next().unwrap_or_default().to_owned())
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn handle(inner: &Mutex<Inner>, seen: &watch::Sender<u64>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let token = token(&req);
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(url_pairs).unwrap_or_default();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let found = {
        let mut inner = inner.lock();
        let found = inner.receivers.get_mut(&token).map(|r| {
            let behaviour = r.behaviour;
            if let Behaviour::Fail { status, times } = behaviour {
                r.behaviour = if times > 1 { Behaviour::Fail { status, times: times - 1 } } else { Behaviour::Accept };
            }
            (r.name.clone(), r.kind, r.secret.clone(), r.keyword.clone(), behaviour)
        });
        if let Some((name, ..)) = &found {
            *inner.requests.entry(name.clone()).or_default() += 1;
        }
        found
    };
    seen.send_modify(|n| *n += 1);
    let Some((name, kind, secret, keyword, behaviour)) = found else {
        // Each provider's answer to a token it does not know.
        return if path.starts_with("/cgi-bin/") {
            reply(200, json!({"errcode": 93000, "errmsg": "invalid webhook url"}))
        } else if path.starts_with("/open-apis/") {
            reply(200, json!({"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}))
        } else if path.starts_with("/robot/") {
            reply(200, json!({"errcode": 300001, "errmsg": "token is not exist"}))
        } else {
            reply(404, json!({"error": "no such hook"}))
        };
    };
    match behaviour {
        Behaviour::Hang => std::future::pending::<()>().await,
        Behaviour::Fail { status, .. } => return reply(status, json!({"error": "failing on purpose"})),
        Behaviour::Accept => {}
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return reply(400, json!({"errcode": 40035, "errmsg": "invalid json"}));
    };
    let checked = match kind {
        Kind::DingTalk => dingtalk(&value, &query, secret.as_deref(), keyword.as_deref()),
        Kind::Feishu => feishu(&value, secret.as_deref(), keyword.as_deref()),
        Kind::WeCom => wecom(&value),
        Kind::Webhook => Ok(value.to_string()),
    };
    let mut guard = inner.lock();
    let answer = match checked {
        Ok(text) => {
            guard.messages.push(Message { receiver: name, kind, body: value, text, at: Instant::now() });
            match kind {
                Kind::DingTalk | Kind::WeCom => reply(200, json!({"errcode": 0, "errmsg": "ok"})),
                Kind::Feishu => reply(200, json!({"code": 0, "msg": "success", "data": {}})),
                Kind::Webhook => reply(200, json!({})),
            }
        }
        Err((why, answer)) => {
            guard.refusals.entry(name).or_default().push(why);
            reply(200, answer)
        }
    };
    drop(guard);
    seen.send_modify(|n| *n += 1);
    answer
}

type Checked = Result<String, (String, Value)>;

fn fresh(timestamp_ms: i64) -> bool {
    (now_ms() - timestamp_ms).abs() <= MAX_SKEW_MS
}

fn dingtalk(v: &Value, query: &[(String, String)], secret: Option<&str>, keyword: Option<&str>) -> Checked {
    let refuse = |why: &str, code: i64, errmsg: &str| Err((why.to_owned(), json!({"errcode": code, "errmsg": errmsg})));
    if let Some(secret) = secret {
        let get = |k: &str| query.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let (Some(timestamp), Some(sign)) = (get("timestamp"), get("sign")) else {
            return refuse("unsigned", 310000, "sign not match, more: [https://ding-doc.dingtalk.com/]");
        };
        let Ok(ms) = timestamp.parse::<i64>() else { return refuse("bad timestamp", 310000, "invalid timestamp") };
        if !fresh(ms) {
            return refuse("stale timestamp", 310000, "invalid timestamp");
        }
        if sign != dingtalk_sign(secret, &timestamp) {
            return refuse("bad signature", 310000, "sign not match");
        }
    }
    if v["msgtype"] != "markdown" {
        return refuse("not markdown", 40035, "unsupported msgtype");
    }
    let (Some(title), Some(text)) = (v["markdown"]["title"].as_str(), v["markdown"]["text"].as_str()) else {
        return refuse("no title or text", 40035, "param error");
    };
    let all = format!("{title}\n{text}");
    if let Some(k) = keyword
        && !all.contains(k)
    {
        return refuse("keyword missing", 310000, "keywords not in content");
    }
    Ok(all)
}

fn feishu(v: &Value, secret: Option<&str>, keyword: Option<&str>) -> Checked {
    let refuse = |why: &str, code: i64, msg: &str| Err((why.to_owned(), json!({"code": code, "msg": msg, "data": {}})));
    if let Some(secret) = secret {
        let (Some(timestamp), Some(sign)) = (v["timestamp"].as_str(), v["sign"].as_str()) else {
            return refuse("unsigned", 19021, "sign match fail or timestamp is not within one hour from current time");
        };
        let fresh_enough = timestamp.parse::<i64>().is_ok_and(|s| fresh(s * 1000));
        if !fresh_enough || sign != feishu_sign(secret, timestamp) {
            return refuse(
                if fresh_enough { "bad signature" } else { "stale timestamp" },
                19021,
                "sign match fail or timestamp is not within one hour from current time",
            );
        }
    }
    if v["msg_type"] != "interactive" {
        return refuse("not a card", 9499, "Bad Request");
    }
    let card = &v["card"];
    let (Some(title), Some(markdown)) =
        (card["header"]["title"]["content"].as_str(), card["elements"][0]["content"].as_str())
    else {
        return refuse("no title or markdown", 9499, "Bad Request");
    };
    let all = format!("{title}\n{markdown}");
    if let Some(k) = keyword
        && !all.contains(k)
    {
        return refuse("keyword missing", 19024, "Key Words Not Found");
    }
    Ok(all)
}

fn wecom(v: &Value) -> Checked {
    let refuse = |why: &str, code: i64, errmsg: &str| Err((why.to_owned(), json!({"errcode": code, "errmsg": errmsg})));
    if v["msgtype"] != "markdown" {
        return refuse("not markdown", 40008, "invalid message type");
    }
    let Some(content) = v["markdown"]["content"].as_str() else {
        return refuse("no content", 41009, "missing content");
    };
    if content.len() > 4096 {
        return refuse("content over 4096 bytes", 40058, "markdown.content exceed max length 4096");
    }
    Ok(content.to_owned())
}
