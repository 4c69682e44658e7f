//! Chat chunks -> the Messages API's stream (`ingress::messages::Stream`), driven
//! as the proxy drives it (`switchyard_fuzz::client::drive`): each line of
//! the input after its flags byte is one chunk's payload; flag bit 0 breaks
//! the upstream after the last line. Whatever the chunks, the client gets
//! valid SSE of named JSON events in the documented order, ending with the
//! API's closing events or its error event, and nothing after.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_fuzz::client::{check_messages, drive};
use switchyard_proxy::ingress::Api;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else { return };
    let (events, end) = drive(Api::Messages, body, flags & 1 != 0);
    check_messages(&events, end);
});
