//! `syctl`: Switchyard's admin CLI. Everything is in the library
//! (`switchyard_ctl::run`); this only wires the process to it.

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    let env = switchyard_ctl::Env::process();
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let code = switchyard_ctl::run(args, &env, &mut out, &mut err).await;
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
