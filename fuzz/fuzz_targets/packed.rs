//! The packed-snapshot decoder (`packed::unpack`): a gzip stream (the input
//! itself, or the input gzipped by the target, to reach the protobuf decoder)
//! is refused past the bound or unpacked to exactly what decoding its
//! inflated bytes gives, and unpacking never allocates much more than the
//! bound, however far the stream would inflate. What unpacks is then
//! validated as the data plane does (`TryFrom`); what passes re-encodes to itself.
#![no_main]

use bytes::Bytes;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use switchyard_proto::model::{Config, RuntimeState};
use switchyard_proto::packed::{self, Unpacked};
use switchyard_proto::pb::{self, DiscoveryResponse, ResourceType, ResourceVersion, discovery_response::Resource};

/// The system allocator, counting the bytes live and their peak.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
        PEAK.fetch_max(live, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as the new block allocated before the old one is freed, as it may be.
        let live = LIVE.fetch_add(new_size, Relaxed) + new_size;
        PEAK.fetch_max(live, Relaxed);
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn gzip(bytes: &[u8]) -> Bytes {
    let mut out = GzEncoder::new(Vec::new(), Compression::fast());
    out.write_all(bytes).expect("writing into a Vec");
    Bytes::from(out.finish().expect("writing into a Vec"))
}

fn response(kind: ResourceType, packed: Bytes) -> DiscoveryResponse {
    let version = ResourceVersion { r#type: kind as i32, version: 1, hash: vec![7; 32] };
    DiscoveryResponse { version: Some(version), nonce: "n".into(), resource: Some(Resource::Packed(packed)) }
}

/// What the decoder state and a `Vec` doubling past the bound may add.
const SLACK: usize = 512 << 10;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    // Bit 0: the rest is gzip already, or a message for the target to gzip.
    let packed = if flags & 1 == 0 { Bytes::copy_from_slice(rest) } else { gzip(rest) };
    // Bits 1-2: the type; an unknown one is refused only after inflating,
    // which measures the inflation alone (decoding amplifies by design).
    let kind = match (flags >> 1) & 3 {
        0 => ResourceType::Config,
        1 => ResourceType::Runtime,
        _ => ResourceType::Unspecified,
    };
    // Bits 3-7: the bound, 1 B to 1 MiB; 64 KiB at most for what is decoded.
    let max = 1usize << ((flags >> 3) % 21).min(if kind == ResourceType::Unspecified { 20 } else { 16 });
    let response = response(kind, packed.clone());

    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    let got = packed::unpack(&response, max);
    let peak = PEAK.load(Relaxed) - before;
    if kind == ResourceType::Unspecified {
        assert!(peak <= 2 * max + SLACK, "unpacking with a bound of {max} B allocated {peak} B");
        assert!(got.is_err());
    }

    let mut inflated = Vec::new();
    let read = GzDecoder::new(&packed[..]).take(max as u64 + 1).read_to_end(&mut inflated);
    match (got, read) {
        (Err(e), Err(_)) => assert!(e.starts_with("packed resource: not valid gzip"), "{e}"),
        (Err(e), Ok(_)) if inflated.len() > max => assert_eq!(e, format!("packed resource: inflates past {max} bytes")),
        (Err(e), Ok(_)) => match kind {
            ResourceType::Config => assert!(pb::Config::decode(&inflated[..]).is_err(), "{e}"),
            ResourceType::Runtime => assert!(pb::Runtime::decode(&inflated[..]).is_err(), "{e}"),
            ResourceType::Unspecified => assert_eq!(e, "packed resource: unknown type 0"),
        },
        (Ok(_), Err(e)) => panic!("unpacked a stream that is not valid gzip ({e})"),
        (Ok(_), Ok(_)) if inflated.len() > max => panic!("unpacked {} B with a bound of {max} B", inflated.len()),
        (Ok(Unpacked::Config(config)), Ok(_)) => {
            assert_eq!(kind, ResourceType::Config);
            assert_eq!(*config, pb::Config::decode(&inflated[..]).expect("unpack decoded it"));
            // What the control plane sends for it unpacks to it again.
            let resent = DiscoveryResponse { resource: Some(packed::config(&config)), ..response };
            let again = packed::unpack(&resent, usize::MAX).expect("a packed config unpacks");
            assert!(matches!(again, Unpacked::Config(ref c) if *c == config));
            // The data plane's validation of it: a config it accepts travels unchanged.
            if let Ok(model) = Config::try_from(*config) {
                assert_eq!(Config::try_from(pb::Config::from(&model)).ok(), Some(model));
            }
        }
        (Ok(Unpacked::Runtime(runtime)), Ok(_)) => {
            assert_eq!(kind, ResourceType::Runtime);
            assert_eq!(runtime, pb::Runtime::decode(&inflated[..]).expect("unpack decoded it"));
            let resent = DiscoveryResponse { resource: Some(packed::runtime(&runtime)), ..response };
            let again = packed::unpack(&resent, usize::MAX).expect("a packed runtime unpacks");
            assert!(matches!(again, Unpacked::Runtime(ref r) if *r == runtime));
            if let Ok(state) = RuntimeState::try_from(runtime) {
                assert_eq!(RuntimeState::try_from(pb::Runtime::from(&state)).ok(), Some(state));
            }
        }
    }
});
