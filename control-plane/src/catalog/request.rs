//! The model-list request every provider kind answers: its URL and the
//! headers (the provider's static headers and the account's auth, exactly as
//! the data plane sends them). Used by `TestProvider` and by discovery.

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use switchyard_proto::model::{Provider, ProviderKind};

/// What the data plane sends Anthropic.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// `GET` the models list: the cheapest call every kind answers with the key checked.
pub fn models_url(p: &Provider) -> Result<Url, String> {
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
pub fn headers(p: &Provider, api_key: &str) -> Result<HeaderMap, String> {
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

/// Every secret an error about `p`'s requests with `api_key` could quote.
pub fn secrets(p: &Provider, api_key: &str) -> Vec<String> {
    std::iter::once(api_key.to_owned())
        .chain(p.proxy.as_ref().map(|s| s.expose().to_owned()))
        .chain(p.headers.values().map(|v| v.expose().to_owned()))
        .collect()
}
