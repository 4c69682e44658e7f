//! `gateway.yaml` parsing as the control plane does it for a client's
//! document (`Resolver::refusing()`: no environment, no files): never a panic,
//! and a document that parses exports (`emit`) to one that reads back as the
//! same config (secrets as their markers) and exports to the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_proto::document::{self, Resolver, emit};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let resolver = Resolver::refusing();
    let config = match document::parse(text, &resolver) {
        Ok(config) => config,
        Err(errors) => {
            assert!(!errors.0.is_empty(), "a refusal says why");
            return;
        }
    };
    let out = emit(&config);
    let back = document::parse(&out, &resolver)
        .unwrap_or_else(|e| panic!("the export does not parse back:\n{e}\n--- export\n{out}\n--- input\n{text}"));
    let expected = config.redacted();
    assert!(
        back == expected,
        "the export reads back differently:\n{out}\n--- read back\n{back:#?}\n--- expected\n{expected:#?}"
    );
    assert_eq!(emit(&back), out, "emit(parse(emit(C))) == emit(C)");
});
