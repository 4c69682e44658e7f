use super::*;
use serde_json::{Value, json};

fn body(error: &ProxyError) -> Value {
    serde_json::from_str(&error.body_json()).unwrap()
}

#[test]
fn a_translated_client_error_is_invalid_request_error_with_the_providers_param_and_code() {
    let answer = |status: u16, param: Option<&str>, code: Option<&str>| ProxyError::UpstreamAnswer {
        status: StatusCode::from_u16(status).unwrap(),
        provider: "gem".into(),
        kind: "gemini",
        message: Some("INVALID_ARGUMENT: Invalid value".into()),
        param: param.map(Box::from),
        code: code.map(Box::from),
    };
    let error = answer(400, Some("generation_config.temperature"), Some("INVALID_ARGUMENT"));
    assert_eq!(
        body(&error)["error"],
        json!({"message": "gem (gemini): INVALID_ARGUMENT: Invalid value", "type": "invalid_request_error",
               "param": "generation_config.temperature", "code": "INVALID_ARGUMENT"})
    );
    let bare = body(&answer(404, None, None));
    assert_eq!((&bare["error"]["type"], &bare["error"]["param"]), (&json!("invalid_request_error"), &Value::Null));
    assert_eq!(body(&answer(429, None, None))["error"]["type"], "rate_limit_exceeded");
    assert_eq!(body(&answer(503, None, None))["error"]["type"], "upstream_error");
}

#[test]
fn upstream_rate_limits_are_a_429_with_retry_after() {
    let error = ProxyError::UpstreamRateLimited { summary: "All 2 ...".into(), retry_after_secs: Some(3) };
    assert_eq!(body(&error)["error"]["type"], "rate_limit_exceeded");
    assert_eq!(body(&error)["error"]["code"], "rate_limit_exceeded");
    let response = error.into_response(Ingress::OpenAi);
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()[header::RETRY_AFTER], "3");
    let unsaid = ProxyError::UpstreamRateLimited { summary: "x".into(), retry_after_secs: None };
    let response = unsaid.into_response(Ingress::Anthropic);
    assert!(response.headers().get(header::RETRY_AFTER).is_none());
}
