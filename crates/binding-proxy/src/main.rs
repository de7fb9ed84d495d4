//! The `binding-proxy` binary: CLI, configuration, wiring, listeners, signals and shutdown.
//!
//! `serve` runs the data plane and the admin API; `dev` runs both plus the upstream emulator
//! in memory; the other commands are operator clients of the admin API.

mod admin_client;
mod app;
mod cli;
mod commands;
mod config;
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => return fail(&format!("cannot start the async runtime: {err}"), 1),
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Serve(args) => match load_config(&args) {
            Ok(config) => {
                logging::init(config.log_format, &config.log_level);
                serve::serve(config).await.map(|()| 0)
            }
            Err(code) => return code,
        },
        Command::Dev(args) => {
            let mut env = process_env();
            env.insert("BINDING_PROXY__DATAPLANE__LISTEN".into(), args.listen);
            env.insert("BINDING_PROXY__ADMIN__LISTEN".into(), args.admin_listen);
            match Config::load(Sources { file: None, env }) {
                Ok(config) => {
                    logging::init(config.log_format, &config.log_level);
                    serve::dev(config).await.map(|()| 0)
                }
                Err(err) => return fail(&err.to_string(), 2),
            }
        }
        Command::CheckConfig(args) => match load_config(&args) {
            Ok(_) => {
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

fn load_config(args: &ServeArgs) -> Result<Config, ExitCode> {
    Config::load(Sources {
        file: args.config.as_deref(),
        env: process_env(),
    })
    .map_err(|err| fail(&err.to_string(), 2))
}

fn process_env() -> std::collections::HashMap<String, String> {
    std::env::vars().collect()
}

/// Prints `error: <reason>` on stderr and returns the exit code.
fn fail(reason: &str, code: u8) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "error: {reason}");
    ExitCode::from(code)
}
