//! The `server` binary: parses the command line and runs the chosen command.

use clap::Parser;
use std::process::ExitCode;

use server::config::{Cli, Command, LogFormat};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Nothing the server or its ffmpeg children write (the database with its secrets, the
    // media) is readable by other local users; the group may read, for a web server in front.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o027));
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.config.log_format {
        LogFormat::Text => logs.init(),
        // One JSON object a line, with the fields of the spans it happened in (the request
        // id of an HTTP request, the group and session of a stream's work).
        LogFormat::Json => logs
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .init(),
    }
    // Server-side rendering of deep Leptos views needs more than the default 2 MiB of
    // stack in debug builds.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(16 * 1024 * 1024)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Run) {
            Command::Run => server::run(cli.config).await,
            Command::Demo { no_publisher } => server::demo::run(cli.config, !no_publisher).await,
            Command::Org { command } => {
                let state = server::open_state(&cli.config).await?;
                server::cli::org(&state, command).await
            }
            Command::Quarantine => {
                let state = server::open_state(&cli.config).await?;
                server::cli::quarantine(&state).await
            }
            Command::User { command } => {
                let state = server::open_state(&cli.config).await?;
                server::cli::user(&state, command).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
