//! The fake upstream as a process, for trying the proxy by hand, for
//! benchmarks and for the SDK tests (`tests/sdk/`):
//! `fake-upstream [--api API] [ADDR]` (ADDR defaults to 127.0.0.1:0) prints its
//! base URL (`http://ADDR/v1`), then serves until killed.
//!
//! `--api` picks whose API the default answers speak (see
//! `switchyard_tests::fake_upstream`): `all` (the default), `openai`,
//! `openai-compatible` (no Responses API), `anthropic` or `gemini`; the other
//! providers' endpoints answer 404. An `openai` or `openai-compatible` provider
//! takes the printed URL as its `base_url`, an `anthropic` or `gemini` one the
//! URL without `/v1`. A model named `fail-…` is answered 500; `cut-…`,
//! `garbled-…` and `busy-…` get a stream that ends early, one with an event
//! that is not JSON, and a first 429 (`switchyard_tests::fake_upstream::faults`).

use clap::Parser;
use std::net::SocketAddr;
use switchyard_tests::FakeUpstream;
use switchyard_tests::fake_upstream::{Api, Options};

#[derive(Parser, Debug)]
#[command(name = "fake-upstream")]
struct Args {
    /// Whose API the default answers speak.
    #[arg(long, value_enum, default_value_t = Api::All)]
    api: Api,
    /// Where to listen.
    #[arg(default_value = "127.0.0.1:0")]
    addr: SocketAddr,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let upstream = FakeUpstream::start_on_with(args.addr, Options { api: args.api, ..Options::default() }).await?;
    println!("{}", upstream.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
