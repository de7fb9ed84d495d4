//! The `binding-proxy` binary: CLI, configuration, wiring, listeners, signals and shutdown.
//!
//! `serve` runs the data plane and the admin API; `dev` runs both plus the upstream emulator
//! in memory; the other commands are operator clients of the admin API.

mod admin_client;
mod app;
mod cli;
mod commands;
mod config;
#[cfg(feature = "dev")]
mod dev;
mod logging;
mod serve;
mod shutdown;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, ServeArgs};
use crate::config::{Config, Sources};

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` reads its configuration before the runtime exists: the number of worker threads
    // (`runtime.worker_threads`) is a setting. Problems are still reported before any port is
    // bound.
    let serve_config = match &cli.command {
        Command::Serve(args) => match load_config(args) {
            Ok(config) => Some(config),
            Err(code) => return code,
        },
        _ => None,
    };
    let workers = serve_config.as_ref().and_then(|c| c.worker_threads);
    let runtime = match build_runtime(workers) {
        Ok(rt) => rt,
        Err(err) => return fail(&format!("cannot start the async runtime: {err}"), 1),
    };
    runtime.block_on(run(cli, serve_config))
}

/// A multi-threaded Tokio runtime; `None` workers: one per CPU.
fn build_runtime(worker_threads: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = worker_threads {
        builder.worker_threads(workers);
    }
    builder.enable_all().build()
}

/// Runs the command; `serve_config` is `serve`'s configuration, already loaded by `main`.
async fn run(cli: Cli, serve_config: Option<Config>) -> ExitCode {
    let result = match cli.command {
        Command::Serve(args) => match serve_config.map_or_else(|| load_config(&args), Ok) {
            Ok(config) => {
                logging::init(config.log_format, &config.log_level);
                serve::serve(config).await.map(|()| 0)
            }
            Err(code) => return code,
        },
        Command::Dev(args) => return dev(args).await,
        Command::CheckConfig(args) => match load_config(&args.serve) {
            Ok(config) => {
                if !args.no_files
                    && let Err(reason) = check_files(&config)
                {
                    return fail(&reason, 2);
                }
                let _ = writeln!(std::io::stdout(), "configuration is valid");
                Ok(0)
            }
            Err(code) => return code,
        },
        Command::AdminToken => serve::admin_token().map(|()| 0),
        Command::Bindings(cmd) => commands::bindings(cmd).await,
        Command::Tokens(cmd) => commands::tokens(cmd).await,
        Command::Keys(cmd) => commands::keys(cmd).await,
    };
    match result {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => fail(&format!("{err:#}"), 1),
    }
}

/// `dev`: the whole service and the upstream emulator in memory.
#[cfg(feature = "dev")]
async fn dev(args: cli::DevArgs) -> ExitCode {
    let mut env = process_env();
    env.insert("BINDING_PROXY__DATAPLANE__LISTEN".into(), args.listen);
    env.insert("BINDING_PROXY__ADMIN__LISTEN".into(), args.admin_listen);
    match Config::load(Sources { file: None, env }) {
        Ok(config) => {
            logging::init(config.log_format, &config.log_level);
            match dev::dev(config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => fail(&format!("{err:#}"), 1),
            }
        }
        Err(err) => fail(&err.to_string(), 2),
    }
}

/// `dev` in a build without the `dev` feature: the emulator it needs was left out.
#[cfg(not(feature = "dev"))]
async fn dev(_: cli::DevArgs) -> ExitCode {
    fail(
        "`dev` was left out of this build (built without the `dev` feature, which holds the upstream emulator); use `serve`, or build with default features",
        2,
    )
}

fn load_config(args: &ServeArgs) -> Result<Config, ExitCode> {
    Config::load(Sources {
        file: args.config.as_deref(),
        env: process_env(),
    })
    .map_err(|err| fail(&err.to_string(), 2))
}

/// Reads the files the configuration names that `serve` reads at start-up, before it answers
/// any request — the upstream CA bundle, the data listener's TLS certificate and key, and the
/// admin TLS certificate, key and client CA — with the same code, so `check-config` finds what
/// `serve` would refuse. The error carries its causes (an OS error, rustls's reason), as `serve` prints them; none of them quotes a file.
/// The master key file is left alone: `serve` creates it when it is missing.
fn check_files(config: &Config) -> Result<(), String> {
    if let Some(path) = &config.dataplane.upstream.ca_file {
        dataplane::check_upstream_ca_file(path).map_err(|err| with_causes(&err))?;
    }
    if let Some(tls) = &config.dataplane.listener.tls {
        dataplane::check_listener_tls(tls)
            .map_err(|err| format!("data listener TLS: {}", with_causes(&err)))?;
    }
    if let Some(tls) = &config.admin.tls {
        admin::tls_acceptor(tls).map_err(|err| format!("admin TLS: {}", with_causes(&err)))?;
    }
    Ok(())
}

/// `err: cause: cause …`.
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn process_env() -> std::collections::HashMap<String, String> {
    std::env::vars().collect()
}

/// Prints `error: <reason>` on stderr and returns the exit code.
fn fail(reason: &str, code: u8) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "error: {reason}");
    ExitCode::from(code)
}
