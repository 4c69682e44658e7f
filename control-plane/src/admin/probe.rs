//! Operations check `TestProvider`: one cheap real call per account (listing
//! the models, with the account's auth exactly as the data plane sends it,
//! through the provider's proxy). Results and errors never carry a secret:
//! no key, no proxy URL (it may hold credentials); see [`crate::outbound`].

use super::{AdminService, status};
use crate::error::required;
use crate::outbound::{body, describe, provider_client, scrub, upstream_message};
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::model::{Provider, ProviderKind};
use switchyard_proto::pb;
use switchyard_proto::pb::provider_test_result::AccountResult;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tonic::Status;

/// Every probe, start to end.
const TIMEOUT: Duration = Duration::from_secs(10);
/// What the data plane sends Anthropic.
const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Accounts of one provider tested at once.
const PARALLEL: usize = 8;
/// `GET` the models list: the cheapest call every kind answers with the key checked.
fn models_url(p: &Provider) -> Result<Url, String> {
    let base = p.base_url.trim_end_matches('/');
    let url = match p.kind {
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => format!("{base}/models"),
        ProviderKind::Azure => format!("{base}/openai/models"),
        // The data plane's Anthropic base URL is the API root (`https://api.anthropic.com`).
        ProviderKind::Anthropic if base.ends_with("/v1") => format!("{base}/models"),
        ProviderKind::Anthropic => format!("{base}/v1/models"),
        ProviderKind::Gemini => {
            let bare = Url::parse(base).map(|u| u.path() == "/").unwrap_or(false);
            if bare { format!("{base}/v1beta/models") } else { format!("{base}/models") }
        }
    };
    let mut url = Url::parse(&url).map_err(|_| "invalid base_url".to_owned())?;
    if p.kind == ProviderKind::Azure {
        url.query_pairs_mut().append_pair("api-version", p.api_version.as_deref().unwrap_or_default());
    }
    Ok(url)
}

/// The provider's static headers and the account's auth, as the data plane sends them.
fn headers(p: &Provider, api_key: &str) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in &p.headers {
        // Validated when written; skip rather than fail on what cannot happen.
        if let (Ok(n), Ok(mut v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value.expose())) {
            v.set_sensitive(true);
            headers.insert(n, v);
        }
    }
    let (name, value) = match p.kind {
        ProviderKind::Azure => (HeaderName::from_static("api-key"), api_key.to_owned()),
        ProviderKind::Anthropic => (HeaderName::from_static("x-api-key"), api_key.to_owned()),
        ProviderKind::Gemini => (HeaderName::from_static("x-goog-api-key"), api_key.to_owned()),
        ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
            (reqwest::header::AUTHORIZATION, format!("Bearer {api_key}"))
        }
    };
    let mut value = HeaderValue::from_str(&value).map_err(|_| "the API key is not a valid header value".to_owned())?;
    value.set_sensitive(true);
    headers.insert(name, value);
    if p.kind == ProviderKind::Anthropic {
        headers.insert(HeaderName::from_static("anthropic-version"), HeaderValue::from_static(ANTHROPIC_VERSION));
    }
    Ok(headers)
}

/// One account's probe.
async fn probe(
    client: reqwest::Client,
    url: Url,
    headers: HeaderMap,
    secrets: Vec<String>,
) -> (bool, u32, u64, String) {
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let started = Instant::now();
    let sent = client.get(url).headers(headers).send().await;
    let latency = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match sent {
        Ok(response) => {
            let code = response.status();
            if code.is_success() {
                return (true, u32::from(code.as_u16()), latency, String::new());
            }
            let reason = code.canonical_reason().unwrap_or("error");
            let error = match upstream_message(&body(response).await) {
                Some(message) => scrub(&format!("HTTP {}: {message}", code.as_u16()), &secrets),
                None => format!("HTTP {} {reason}", code.as_u16()),
            };
            (false, u32::from(code.as_u16()), latency, error)
        }
        Err(e) => (false, 0, latency, describe(&e, &secrets)),
    }
}

pub async fn test_provider(svc: &AdminService, r: pb::ObjectRef) -> Result<pb::ProviderTestResult, Status> {
    if r.name.is_empty() {
        return Err(required("name"));
    }
    let (_, config) = svc.store.load().await.map_err(status)?;
    let p =
        config.provider(&r.name).ok_or_else(|| Status::not_found(format!("provider {:?} does not exist", r.name)))?;
    let refuse = |reason: String| Status::failed_precondition(format!("provider {:?}: {reason}", p.name));
    let connect = p.timeout.resolve(&config.settings.timeout).connect;
    let client = provider_client(p, connect, TIMEOUT).map_err(refuse)?;
    let url = models_url(p).map_err(refuse)?;
    let proxy = p.proxy.as_ref().map(|s| s.expose().to_owned());
    let limit = Arc::new(Semaphore::new(PARALLEL));
    let mut probes = JoinSet::new();
    for (i, account) in p.accounts.iter().enumerate() {
        let name = account.name.clone();
        let prepared = headers(p, account.api_key.expose());
        let headers_secrets = p.headers.values().map(|v| v.expose().to_owned());
        let secrets: Vec<String> = [Some(account.api_key.expose().to_owned()), proxy.clone()]
            .into_iter()
            .flatten()
            .chain(headers_secrets)
            .collect();
        let (client, url, limit) = (client.clone(), url.clone(), limit.clone());
        probes.spawn(async move {
            let (ok, http_status, latency_ms, error) = match prepared {
                Ok(headers) => {
                    let _permit = limit.acquire_owned().await;
                    probe(client, url, headers, secrets).await
                }
                Err(error) => (false, 0, 0, error),
            };
            (i, AccountResult { account: name, ok, http_status, latency_ms, error })
        });
    }
    let mut results = Vec::with_capacity(p.accounts.len());
    while let Some(done) = probes.join_next().await {
        results.push(done.map_err(|e| Status::internal(format!("a provider probe failed: {e}")))?);
    }
    results.sort_by_key(|(i, _)| *i);
    for (_, a) in &results {
        tracing::info!(provider = %p.name, account = %a.account, ok = a.ok, http_status = a.http_status, "provider test");
    }
    Ok(pb::ProviderTestResult { accounts: results.into_iter().map(|(_, a)| a).collect() })
}
