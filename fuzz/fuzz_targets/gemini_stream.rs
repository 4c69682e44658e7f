//! The gemini stream re-framing (`translate::Adapter::Gemini` over upstream SSE):
//! whatever the upstream sends, the client gets valid SSE of
//! `chat.completion.chunk` JSON payloads, `data: [DONE]` last exactly when the
//! stream did not break, usage as asked; and how the upstream's bytes were
//! cut changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_fuzz::Cut;
use switchyard_fuzz::chat::{assert_same, translate};
use switchyard_proxy::translate::{Adapter, Ask, Translated};

fuzz_target!(|data: &[u8]| {
    let Some(cut) = Cut::new(data) else { return };
    let include_usage = cut.flags & 1 != 0;
    let upstream_breaks = cut.flags & 2 != 0;
    let translated = Translated { body: Vec::new(), stream: true, include_usage, model: "m-1".into(), ask: Ask::Chat };
    let whole = translate(Adapter::Gemini, &translated, &[cut.body], upstream_breaks);
    let split = translate(Adapter::Gemini, &translated, &cut.chunks(), upstream_breaks);
    assert_same(&whole, &split);
    if upstream_breaks {
        assert!(!whole.done, "a cut upstream never ends with [DONE]");
    }
});
