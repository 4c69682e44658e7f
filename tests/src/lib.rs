//! Switchyard's test kit: fake upstreams and harnesses shared by the tests, plus
//! the end-to-end tests themselves, which live in `tests/tests/`.
//!
//! This crate is never published or shipped; it exists only so tests across the
//! workspace can drive a real HTTP server that behaves like an OpenAI, Anthropic or Gemini
//! upstream (see [`FakeUpstream`]) and start a real data plane on it ([`harness`]),
//! or a whole fleet ([`Topology`]), wait for what they assert on with
//! [`eventually`] ([`wait`]), answer balance polls ([`fake_balance`]) and
//! receive alerts as DingTalk, Feishu, WeCom and webhooks do ([`fake_alerts`]),
//! and compare what they got with checked-in goldens ([`golden`]).

pub mod cluster;
pub mod fake_alerts;
pub mod fake_balance;
pub mod fake_upstream;
pub mod golden;
pub mod harness;
pub mod load;
pub mod postgres;
pub mod schema;
pub mod sockets;
pub mod topology;
pub mod wait;

pub use fake_upstream::{Chunk, FakeUpstream, RecordedRequest, Reply};
pub use topology::{Fleet, Started, Topology};
pub use wait::{eventually, eventually_some, eventually_value, stays, within};
