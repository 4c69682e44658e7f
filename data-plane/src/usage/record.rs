//! The usage record: one per request that an authenticated key made, whatever
//! its ending. Field for field the `switchyard.v1.UsageRecord` the control
//! plane receives ([`UsageRecord::to_pb`]).

pub use super::parse::Tokens;
use std::sync::Arc;
use switchyard_proto::pb;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    /// `{boot}-{n}`: this process's random boot prefix and the request's number.
    pub request_id: String,
    /// Unix milliseconds at which the request arrived.
    pub started_at_ms: i64,
    /// The client key's name.
    pub key: Arc<str>,
    /// The public model (route) as resolved; `provider:model` for direct calls;
    /// empty when the request was refused before routing.
    pub route: Arc<str>,
    /// The endpoint of the last attempt; empty when none was made.
    pub provider: Arc<str>,
    pub account: Arc<str>,
    pub upstream_model: Arc<str>,
    pub status: Status,
    /// The HTTP status the client got (499 when it left before any answer).
    pub http_status: u16,
    /// Upstream attempts made (0 for a request refused before any).
    pub attempts: u32,
    pub stream: bool,
    pub tokens: Tokens,
    pub source: Source,
    /// From arrival to the end of the response (a stream's last event).
    pub latency_us: u64,
    /// From arrival to a stream's first event; `None` for other answers.
    pub first_token_us: Option<u64>,
    /// The config version the request was served from.
    pub config_version: u64,
}

/// How the request ended (`switchyard.v1.RequestStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    /// The upstream answered with an error status, or every attempt failed.
    UpstreamError,
    /// Refused by the gateway before any upstream call (limits, routing, a bad request).
    Rejected,
    /// No answer in time (`timeout.first_token`, `total`, or a stream's `idle`).
    Timeout,
    /// The client went away before the response ended.
    ClientClosed,
    /// The stream broke after its first event.
    StreamError,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::UpstreamError => "upstream_error",
            Status::Rejected => "rejected",
            Status::Timeout => "timeout",
            Status::ClientClosed => "client_closed",
            Status::StreamError => "stream_error",
        }
    }
}

/// Where the token counts come from (`switchyard.v1.UsageSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// No tokens were spent: the request was refused or failed before any
    /// answer (`USAGE_SOURCE_UNSPECIFIED` on the wire); counts are zero.
    None,
    /// Counted by the upstream.
    Reported,
    /// Estimated by the proxy: the upstream never reported usage (a cut
    /// stream, a client that left, `stream_usage: never`).
    Estimated,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::None => "none",
            Source::Reported => "reported",
            Source::Estimated => "estimated",
        }
    }
}

impl UsageRecord {
    /// The wire form, for the control plane.
    pub fn to_pb(&self) -> pb::UsageRecord {
        pb::UsageRecord {
            request_id: self.request_id.clone(),
            started_at_ms: self.started_at_ms,
            key: self.key.to_string(),
            route: self.route.to_string(),
            provider: self.provider.to_string(),
            account: self.account.to_string(),
            upstream_model: self.upstream_model.to_string(),
            status: match self.status {
                Status::Ok => pb::RequestStatus::Ok,
                Status::UpstreamError => pb::RequestStatus::UpstreamError,
                Status::Rejected => pb::RequestStatus::Rejected,
                Status::Timeout => pb::RequestStatus::Timeout,
                Status::ClientClosed => pb::RequestStatus::ClientClosed,
                Status::StreamError => pb::RequestStatus::StreamError,
            } as i32,
            http_status: u32::from(self.http_status),
            attempts: self.attempts,
            stream: self.stream,
            prompt_tokens: self.tokens.prompt,
            completion_tokens: self.tokens.completion,
            cached_tokens: self.tokens.cached,
            reasoning_tokens: self.tokens.reasoning,
            usage_source: match self.source {
                Source::None => pb::UsageSource::Unspecified,
                Source::Reported => pb::UsageSource::Reported,
                Source::Estimated => pb::UsageSource::Estimated,
            } as i32,
            latency_us: self.latency_us,
            first_token_us: self.first_token_us,
            config_version: self.config_version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_reaches_the_wire() {
        let record = UsageRecord {
            request_id: "0badcafe-7".into(),
            started_at_ms: 1_700_000_000_123,
            key: "app".into(),
            route: "smart".into(),
            provider: "openai".into(),
            account: "team-a".into(),
            upstream_model: "gpt-4o-mini".into(),
            status: Status::ClientClosed,
            http_status: 200,
            attempts: 2,
            stream: true,
            tokens: Tokens { prompt: 10, completion: 20, cached: 3, reasoning: 4 },
            source: Source::Estimated,
            latency_us: 1500,
            first_token_us: Some(700),
            config_version: 9,
        };
        let wire = record.to_pb();
        assert_eq!(
            wire,
            pb::UsageRecord {
                request_id: "0badcafe-7".into(),
                started_at_ms: 1_700_000_000_123,
                key: "app".into(),
                route: "smart".into(),
                provider: "openai".into(),
                account: "team-a".into(),
                upstream_model: "gpt-4o-mini".into(),
                status: pb::RequestStatus::ClientClosed as i32,
                http_status: 200,
                attempts: 2,
                stream: true,
                prompt_tokens: 10,
                completion_tokens: 20,
                cached_tokens: 3,
                reasoning_tokens: 4,
                usage_source: pb::UsageSource::Estimated as i32,
                latency_us: 1500,
                first_token_us: Some(700),
                config_version: 9,
            }
        );
    }
}
