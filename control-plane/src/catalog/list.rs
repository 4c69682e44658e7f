//! Reading one provider's model list with one account: the kind's list
//! endpoint, page after page where the kind pages (Anthropic's `has_more` /
//! `last_id`, Gemini's `nextPageToken`), every page and the whole bounded.
//! Names are kept as the provider spells them (Gemini's without `models/`);
//! names no client could send as a model (empty, too long, with whitespace
//! or control characters) are left out.

use super::request::{headers, models_url, secrets};
use crate::outbound::{body_up_to, describe, scrub, upstream_message};
use reqwest::Url;
use serde_json::Value;
use std::collections::BTreeSet;
use switchyard_proto::model::{Account, Provider, ProviderKind};

/// Most pages read for one list.
const MAX_PAGES: usize = 20;
/// Most bytes of one page (OpenRouter-style lists carry a lot per model).
pub const PAGE_LIMIT: usize = 8 << 20;
/// Most models kept per provider.
pub const MAX_MODELS: usize = 5000;
/// Longest model name kept (the data plane's longest routable name).
const MAX_NAME: usize = 256;
/// What is asked per page where the kind pages.
const PAGE_SIZE: &str = "1000";

/// The provider's models as `account` sees them, or why they could not be
/// read (never a secret). `first`: the first page's body, when the caller
/// already has it (`TestProvider` asked the same URL).
pub async fn fetch(
    client: &reqwest::Client,
    p: &Provider,
    account: &Account,
    mut first: Option<Vec<u8>>,
) -> Result<BTreeSet<String>, String> {
    let secrets = secrets(p, account.api_key.expose());
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let headers = headers(p, account.api_key.expose())?;
    let url = models_url(p)?;
    let mut models = BTreeSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let body = match first.take() {
            Some(body) => body,
            None => {
                let url = page_url(p.kind, &url, cursor.as_deref());
                let response =
                    client.get(url).headers(headers.clone()).send().await.map_err(|e| describe(&e, &secrets))?;
                let status = response.status();
                let (body, whole) = body_up_to(response, PAGE_LIMIT).await;
                if !status.is_success() {
                    return Err(match upstream_message(&body) {
                        Some(message) => scrub(&format!("HTTP {}: {message}", status.as_u16()), &secrets),
                        None => format!("HTTP {}", status.as_u16()),
                    });
                }
                if !whole {
                    return Err(format!("the model list is larger than {} MiB or was cut short", PAGE_LIMIT >> 20));
                }
                body
            }
        };
        let page = parse(p.kind, &body)?;
        models.extend(page.models.into_iter().filter(|m| usable(m)));
        if models.len() > MAX_MODELS {
            return Err(format!("the provider lists more than {MAX_MODELS} models"));
        }
        match page.next {
            Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
            _ => return Ok(models),
        }
    }
    Err(format!("the model list has more than {MAX_PAGES} pages"))
}

/// One page of a list: its names and the cursor of the next page, if any.
#[derive(Debug, PartialEq, Eq)]
pub struct Page {
    pub models: Vec<String>,
    pub next: Option<String>,
}

/// A list page in `kind`'s format: `{"data": [{"id": ...}]}` (OpenAI,
/// Azure; Anthropic's adds `has_more` and `last_id`), `{"models": [{"name":
/// "models/..."}], "nextPageToken": ...}` (Gemini).
pub fn parse(kind: ProviderKind, body: &[u8]) -> Result<Page, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("the model list is not JSON: {e}"))?;
    let (list, field) = match kind {
        ProviderKind::Gemini => (value.get("models"), "name"),
        _ => (value.get("data"), "id"),
    };
    let list = match list {
        Some(Value::Array(list)) => list,
        // Gemini leaves `models` out of an empty list.
        None if kind == ProviderKind::Gemini => return Ok(Page { models: Vec::new(), next: None }),
        _ => {
            return Err(format!(
                "the model list has no {} array",
                if kind == ProviderKind::Gemini { "models" } else { "data" }
            ));
        }
    };
    let models = list
        .iter()
        .filter_map(|m| m.get(field)?.as_str())
        .map(|name| name.strip_prefix("models/").filter(|_| kind == ProviderKind::Gemini).unwrap_or(name).to_owned())
        .collect();
    let next = match kind {
        ProviderKind::Anthropic if value.get("has_more").and_then(Value::as_bool) == Some(true) => {
            value.get("last_id").and_then(Value::as_str).map(str::to_owned)
        }
        ProviderKind::Gemini => {
            value.get("nextPageToken").and_then(Value::as_str).filter(|t| !t.is_empty()).map(str::to_owned)
        }
        _ => None,
    };
    Ok(Page { models, next })
}

fn page_url(kind: ProviderKind, first: &Url, cursor: Option<&str>) -> Url {
    let mut url = first.clone();
    match kind {
        ProviderKind::Anthropic => {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", PAGE_SIZE);
            if let Some(after) = cursor {
                q.append_pair("after_id", after);
            }
        }
        ProviderKind::Gemini => {
            let mut q = url.query_pairs_mut();
            q.append_pair("pageSize", PAGE_SIZE);
            if let Some(token) = cursor {
                q.append_pair("pageToken", token);
            }
        }
        _ => {}
    }
    url
}

fn usable(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_and_azure_lists_are_data_ids() {
        let body = br#"{"object":"list","data":[{"id":"gpt-4o","object":"model"},{"id":"o3"},{"object":"model"}]}"#;
        for kind in [ProviderKind::OpenAi, ProviderKind::OpenAiCompatible, ProviderKind::Azure] {
            assert_eq!(parse(kind, body).unwrap(), Page { models: vec!["gpt-4o".into(), "o3".into()], next: None });
        }
    }

    #[test]
    fn anthropic_pages_on_has_more() {
        let more = br#"{"data":[{"id":"claude-a","type":"model"}],"has_more":true,"first_id":"claude-a","last_id":"claude-a"}"#;
        assert_eq!(parse(ProviderKind::Anthropic, more).unwrap().next.as_deref(), Some("claude-a"));
        let last = br#"{"data":[{"id":"claude-b"}],"has_more":false,"last_id":"claude-b"}"#;
        assert_eq!(parse(ProviderKind::Anthropic, last).unwrap(), Page { models: vec!["claude-b".into()], next: None });
    }

    #[test]
    fn gemini_names_lose_their_prefix_and_page_on_the_token() {
        let body = br#"{"models":[{"name":"models/gemini-2.5-flash"},{"name":"tunedModels/x"}],"nextPageToken":"abc"}"#;
        let page = parse(ProviderKind::Gemini, body).unwrap();
        assert_eq!(page.models, vec!["gemini-2.5-flash".to_owned(), "tunedModels/x".to_owned()]);
        assert_eq!(page.next.as_deref(), Some("abc"));
        assert_eq!(parse(ProviderKind::Gemini, b"{}").unwrap(), Page { models: vec![], next: None });
    }

    #[test]
    fn malformed_lists_say_what_is_wrong() {
        assert!(parse(ProviderKind::OpenAi, b"<html>").unwrap_err().contains("not JSON"));
        assert!(parse(ProviderKind::OpenAi, br#"{"data":{}}"#).unwrap_err().contains("no data array"));
    }

    #[test]
    fn unroutable_names_are_left_out() {
        assert!(usable("gpt-4o") && usable("accounts/fireworks/models/llama-v3"));
        assert!(!usable("") && !usable("a b") && !usable("a\u{0}") && !usable(&"x".repeat(257)));
    }

    #[test]
    fn paging_parameters_follow_the_kind() {
        let first = Url::parse("http://h/v1/models").unwrap();
        assert_eq!(
            page_url(ProviderKind::Anthropic, &first, Some("m1")).as_str(),
            "http://h/v1/models?limit=1000&after_id=m1"
        );
        assert_eq!(page_url(ProviderKind::Gemini, &first, None).as_str(), "http://h/v1/models?pageSize=1000");
        assert_eq!(page_url(ProviderKind::OpenAi, &first, Some("x")).as_str(), "http://h/v1/models");
    }
}
