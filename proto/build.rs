//! Compiles `switchyard/v1/*.proto` with protox (pure Rust): a fresh clone builds with cargo alone.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "switchyard/v1/config.proto",
        "switchyard/v1/discovery.proto",
        "switchyard/v1/telemetry.proto",
        "switchyard/v1/admin.proto",
    ];
    let fds = protox::compile(files, ["."])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Deterministic map order, so the canonical encoding (and its hash) is stable.
        .btree_map(".")
        // Packed resources are shared by every stream: cloning them must not copy.
        .bytes(".switchyard.v1.DiscoveryResponse")
        // Secret values get a hand-written, redacting Debug (src/pb.rs).
        .skip_debug(["switchyard.v1.SecretValue"])
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed=switchyard");
    Ok(())
}
