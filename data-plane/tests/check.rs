#![allow(clippy::unwrap_used)]

//! `switchyard-proxy --check --config FILE`, run as a user would.

use std::path::Path;
use std::process::Command;

fn check(config: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard-proxy"))
        .args(["--check", "--config"])
        .arg(config)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap())
}

fn example() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/examples/gateway.yaml"))
}

const EXAMPLE_ENV: &[(&str, &str)] = &[
    ("OPENAI_KEY_A", "sk-a-000000000000"),
    ("OPENAI_KEY_B", "sk-b-000000000000"),
    ("DEEPSEEK_KEY", "sk-d-000000000000"),
    ("OPENROUTER_KEY", "sk-or-000000000000"),
    ("APP1_KEY", "app1-0123456789abcdef"),
    ("BATCH_KEY", "batch-0123456789abcdef"),
];

#[test]
fn the_example_is_ok() {
    assert_eq!(check(example(), EXAMPLE_ENV), (0, "ok\n".to_owned()));
}

#[test]
fn every_error_is_printed_one_per_line() {
    let (code, out) = check(example(), &EXAMPLE_ENV[1..]);
    assert_eq!(code, 1);
    assert_eq!(out, "providers[0].accounts[0].api_key: environment variable OPENAI_KEY_A is not set\n");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    let text = std::fs::read_to_string(example())
        .unwrap()
        .replacen("weight: 2", "wieght: 2", 1)
        .replacen("{provider: deepseek, model: deepseek-chat}", "{provider: deepsek, model: deepseek-chat}", 1)
        .replacen("alert_below: 5}", "alert_below: -5}", 1);
    std::fs::write(&path, text).unwrap();
    let (code, out) = check(&path, EXAMPLE_ENV);
    assert_eq!(code, 1);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "providers[0].accounts[0].wieght: unknown field",
            "providers[2].accounts[0].balance.alert_below: must not be negative (got -5)",
            "models[1].targets[0].provider: unknown provider \"deepsek\"",
        ]
    );
}

#[test]
fn unreadable_and_malformed_files_fail() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = check(&dir.path().join("missing.yaml"), &[]);
    assert_eq!(code, 1);
    assert!(out.starts_with("cannot read "), "{out}");

    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "providers: [\n").unwrap();
    let (code, out) = check(&path, &[]);
    assert_eq!(code, 1);
    assert!(out.starts_with("invalid YAML: "), "{out}");
}
