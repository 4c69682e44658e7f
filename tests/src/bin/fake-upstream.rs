//! The fake upstream as a process, for trying the proxy by hand, for
//! benchmarks and for the SDK tests (`tests/sdk/`): `fake-upstream [ADDR]`
//! (default 127.0.0.1:0); prints its base URL (`http://ADDR/v1`), then serves
//! until killed. It answers OpenAI's, Anthropic's and Gemini's APIs at once
//! (see `switchyard_tests::fake_upstream`): an `openai` or `openai-compatible`
//! provider takes the printed URL as its `base_url`, an `anthropic` or
//! `gemini` one the URL without `/v1`. A model named `fail-…` is answered 500.

use switchyard_tests::FakeUpstream;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let upstream = FakeUpstream::start_on(addr.parse()?).await?;
    println!("{}", upstream.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
