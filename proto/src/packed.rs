//! Packed discovery resources: a resource encoded and gzip-compressed once per
//! revision, so the control plane shares one buffer among every stream
//! instead of cloning, encoding and compressing the snapshot per node.
//! Small resources travel as plain messages; receivers accept both.

use crate::pb::{self, ResourceType, discovery_response::Resource};
use bytes::Bytes;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use prost::Message;
use std::io::{Read, Write};

/// Resources whose encoding is at least this large are packed.
pub const PACK_FROM: usize = 8 * 1024;

/// A received resource, unpacked.
#[derive(Debug)]
pub enum Unpacked {
    Config(Box<pb::Config>),
    Runtime(pb::Runtime),
}

/// The payload that carries `message`: packed when large, plain otherwise.
pub fn config(message: &pb::Config) -> Resource {
    let encoded = message.encode_to_vec();
    if encoded.len() < PACK_FROM { Resource::Config(message.clone()) } else { Resource::Packed(gzip(&encoded)) }
}

/// The payload that carries `message`: packed when large, plain otherwise.
pub fn runtime(message: &pb::Runtime) -> Resource {
    let encoded = message.encode_to_vec();
    if encoded.len() < PACK_FROM { Resource::Runtime(message.clone()) } else { Resource::Packed(gzip(&encoded)) }
}

fn gzip(encoded: &[u8]) -> Bytes {
    let mut out = GzEncoder::new(Vec::with_capacity(encoded.len() / 2), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = out.write_all(encoded);
    Bytes::from(out.finish().unwrap_or_default())
}

/// The resource a response carries, of the type its version names. A packed
/// resource inflating past `max` bytes is refused (a corrupt or hostile
/// stream cannot exhaust memory).
pub fn unpack(response: &pb::DiscoveryResponse, max: usize) -> Result<Unpacked, String> {
    let kind = response.version.as_ref().map(|v| v.r#type).unwrap_or_default();
    match &response.resource {
        Some(Resource::Config(c)) => Ok(Unpacked::Config(Box::new(c.clone()))),
        Some(Resource::Runtime(r)) => Ok(Unpacked::Runtime(r.clone())),
        Some(Resource::Packed(bytes)) => {
            let mut encoded = Vec::new();
            let read = GzDecoder::new(&bytes[..]).take(max as u64 + 1).read_to_end(&mut encoded);
            read.map_err(|e| format!("packed resource: not valid gzip: {e}"))?;
            if encoded.len() > max {
                return Err(format!("packed resource: inflates past {max} bytes"));
            }
            let decode = |e: prost::DecodeError| format!("packed resource: {e}");
            match ResourceType::try_from(kind) {
                Ok(ResourceType::Config) => {
                    Ok(Unpacked::Config(Box::new(pb::Config::decode(&encoded[..]).map_err(decode)?)))
                }
                Ok(ResourceType::Runtime) => Ok(Unpacked::Runtime(pb::Runtime::decode(&encoded[..]).map_err(decode)?)),
                _ => Err(format!("packed resource: unknown type {kind}")),
            }
        }
        None => Err("a response without a resource".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(kind: ResourceType, resource: Resource) -> pb::DiscoveryResponse {
        let version = pb::ResourceVersion { r#type: kind as i32, version: 7, hash: vec![1; 32] };
        pb::DiscoveryResponse { version: Some(version), nonce: "n".into(), resource: Some(resource) }
    }

    fn big_config() -> pb::Config {
        let keys = (0..500)
            .map(|i| pb::ClientKey { name: format!("key-{i}"), key_sha256: vec![i as u8; 32], ..Default::default() })
            .collect();
        pb::Config { keys, ..Default::default() }
    }

    #[test]
    fn small_resources_travel_plain_and_large_ones_packed() {
        let small = pb::Config::default();
        assert!(matches!(config(&small), Resource::Config(_)));
        let big = big_config();
        let Resource::Packed(bytes) = config(&big) else { panic!("a large config is packed") };
        assert!(bytes.len() < big.encoded_len(), "{} >= {}", bytes.len(), big.encoded_len());
        let Unpacked::Config(back) = unpack(&response(ResourceType::Config, Resource::Packed(bytes)), 1 << 20).unwrap()
        else {
            panic!("a config")
        };
        assert_eq!(*back, big);
    }

    #[test]
    fn plain_resources_unpack_as_themselves() {
        let rt = pb::Runtime::default();
        let got = unpack(&response(ResourceType::Runtime, Resource::Runtime(rt.clone())), 1024).unwrap();
        assert!(matches!(got, Unpacked::Runtime(r) if r == rt));
    }

    #[test]
    fn bad_packed_resources_are_refused_with_a_reason() {
        let junk = Resource::Packed(Bytes::from_static(b"not gzip"));
        let error = unpack(&response(ResourceType::Config, junk), 1024).unwrap_err();
        assert!(error.starts_with("packed resource: not valid gzip"), "{error}");

        let Resource::Packed(bytes) = config(&big_config()) else { panic!() };
        let error = unpack(&response(ResourceType::Config, Resource::Packed(bytes.clone())), 1000).unwrap_err();
        assert_eq!(error, "packed resource: inflates past 1000 bytes");

        let error = unpack(&response(ResourceType::Unspecified, Resource::Packed(bytes)), 1 << 20).unwrap_err();
        assert_eq!(error, "packed resource: unknown type 0");

        let garbage = gzip(b"\xff\xff\xff\xff");
        let error = unpack(&response(ResourceType::Runtime, Resource::Packed(garbage)), 1024).unwrap_err();
        assert!(error.starts_with("packed resource: "), "{error}");
    }
}
