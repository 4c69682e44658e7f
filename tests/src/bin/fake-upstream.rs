//! The fake OpenAI-compatible upstream as a process, for trying the proxy by
//! hand and for benchmarks: `fake-upstream [ADDR]` (default 127.0.0.1:0);
//! prints its base URL, then serves until killed.

use switchyard_tests::FakeUpstream;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let upstream = FakeUpstream::start_on(addr.parse()?).await?;
    println!("{}", upstream.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
