//! Operations check `TestProvider`: one cheap real call per account (listing
//! the models, with the account's auth exactly as the data plane sends it,
//! through the provider's proxy). Results and errors never carry a secret:
//! no key, no proxy URL (it may hold credentials); see [`crate::outbound`].

use super::{AdminService, status};
use crate::catalog::{self, DiscoverError, headers, models_url, secrets};
use crate::error::required;
use crate::outbound::{body, body_up_to, describe, provider_client, scrub, upstream_message};
use reqwest::Url;
use reqwest::header::HeaderMap;
use std::sync::Arc;
use std::time::Duration;
use switchyard_proto::pb;
use switchyard_proto::pb::provider_test_result::AccountResult;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tonic::Status;

/// Every probe, start to end.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Accounts of one provider tested at once.
const PARALLEL: usize = 8;

/// One account's probe: its result, and the list it read when it succeeded.
async fn probe(
    client: reqwest::Client,
    url: Url,
    headers: HeaderMap,
    secrets: Vec<String>,
) -> ((bool, u32, u64, String), Option<Vec<u8>>) {
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let started = Instant::now();
    let sent = client.get(url).headers(headers).send().await;
    let latency = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match sent {
        Ok(response) => {
            let code = response.status();
            if code.is_success() {
                let (list, whole) = body_up_to(response, catalog::PAGE_LIMIT).await;
                return ((true, u32::from(code.as_u16()), latency, String::new()), whole.then_some(list));
            }
            let reason = code.canonical_reason().unwrap_or("error");
            let error = match upstream_message(&body(response).await) {
                Some(message) => scrub(&format!("HTTP {}: {message}", code.as_u16()), &secrets),
                None => format!("HTTP {} {reason}", code.as_u16()),
            };
            ((false, u32::from(code.as_u16()), latency, error), None)
        }
        Err(e) => ((false, 0, latency, describe(&e, &secrets)), None),
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
    let limit = Arc::new(Semaphore::new(PARALLEL));
    let mut probes = JoinSet::new();
    for (i, account) in p.accounts.iter().enumerate() {
        let name = account.name.clone();
        let prepared = headers(p, account.api_key.expose());
        let secrets = secrets(p, account.api_key.expose());
        let (client, url, limit) = (client.clone(), url.clone(), limit.clone());
        probes.spawn(async move {
            let ((ok, http_status, latency_ms, error), list) = match prepared {
                Ok(headers) => {
                    let _permit = limit.acquire_owned().await;
                    probe(client, url, headers, secrets).await
                }
                Err(error) => ((false, 0, 0, error), None),
            };
            (i, AccountResult { account: name, ok, http_status, latency_ms, error }, list)
        });
    }
    let mut results = Vec::with_capacity(p.accounts.len());
    while let Some(done) = probes.join_next().await {
        results.push(done.map_err(|e| Status::internal(format!("a provider probe failed: {e}")))?);
    }
    results.sort_by_key(|(i, _, _)| *i);
    for (_, a, _) in &results {
        tracing::info!(provider = %p.name, account = %a.account, ok = a.ok, http_status = a.http_status, "provider test");
    }
    // The first account that answered read the model list's first page: discovery goes on from there.
    let first = results.iter_mut().find_map(|(i, _, list)| Some((*i, list.take()?)));
    let (models_discovered, models_error) = match first {
        Some((i, list)) => {
            let found = catalog::fetch(&client, p, &p.accounts[i], Some(list)).await;
            match catalog::record(&svc.store, &p.name, found).await {
                Ok(found) => {
                    if found.changed {
                        svc.publisher.refresh().await.map_err(status)?;
                    }
                    (Some(u32::try_from(found.models).unwrap_or(u32::MAX)), String::new())
                }
                Err(DiscoverError::Read(reason)) => (None, reason),
                Err(DiscoverError::Store(e)) => return Err(status(e)),
            }
        }
        None => (None, "no account answered".to_owned()),
    };
    let accounts = results.into_iter().map(|(_, a, _)| a).collect();
    Ok(pb::ProviderTestResult { accounts, models_discovered, models_error })
}
