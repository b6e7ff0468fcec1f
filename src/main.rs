//! The `cutover` binary: install the TLS crypto provider, parse the command line, run.

use clap::Parser;
use cutover::terminal_text::{Lines, for_terminal};

fn main() {
    // One rustls provider for every TLS client in the process (reqwest now; kube,
    // hickory and the DNS providers later). Installing it first avoids a run-time panic.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let cli = cutover::cli::Cli::parse();
    if let Ok(filter) = std::env::var("CUTOVER_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(cutover::commands::dispatch(cli)).unwrap_or_else(|e| {
        // An error can quote what a server or a command said: shown, never obeyed.
        let message = format!("error: {e:#}");
        eprintln!("{}", for_terminal(&message, Lines::Many));
        1
    });
    // Do not wait for effect tasks that were told to stop: the journal is already closed.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    std::process::exit(code);
}
