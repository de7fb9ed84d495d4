//! Command-line interface: the server commands and the operator commands that mirror the
//! bindings verbs (`create`, `get`, `validate`, `update`, `delete`) against the admin API.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// binding-proxy: functions hold a scoped token, the proxy holds the real key.
#[derive(Debug, Parser)]
#[command(name = "binding-proxy", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the proxy: data plane and admin API (embedded SQLite store by default).
    Serve(ServeArgs),
    /// Run everything in memory against the built-in upstream emulator and print a working
    /// admin token, function token and curl line.
    Dev(DevArgs),
    /// Check a configuration and the files it names, and exit (non-zero with every problem
    /// listed when invalid).
    CheckConfig(CheckConfigArgs),
    /// Generate an admin token and the SHA-256 digest to put into `admin.token_sha256`.
    AdminToken,
    /// Manage bindings (one per organization).
    #[command(subcommand)]
    Bindings(BindingsCommand),
    /// Issue and revoke function tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Manage token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// TOML configuration file; environment variables BINDING_PROXY__SECTION__KEY override it.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct CheckConfigArgs {
    #[command(flatten)]
    pub(crate) serve: ServeArgs,
    /// Check the settings only, without reading the files they name (CA bundle, admin TLS
    /// certificate and key): for a configuration rendered for another machine or a pod whose
    /// mounts are not here.
    #[arg(long)]
    pub(crate) no_files: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DevArgs {
    /// Data-plane listen address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) listen: String,
    /// Admin API listen address.
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub(crate) admin_listen: String,
}

/// Where the admin API is and how to authenticate to it.
#[derive(Debug, Args)]
pub(crate) struct AdminConnection {
    /// Admin API base URL.
    #[arg(
        long,
        env = "BINDING_PROXY_ADMIN_URL",
        default_value = "http://127.0.0.1:9090"
    )]
    pub(crate) admin_url: String,
    /// Admin bearer token (prefer the environment variable: argv is visible to other users).
    #[arg(long, env = "BINDING_PROXY_ADMIN_TOKEN", hide_env_values = true)]
    pub(crate) admin_token: Option<String>,
    /// Print the API's JSON instead of readable text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum BindingsCommand {
    /// Create the organization's binding. The upstream API key is read from stdin or
    /// `--api-key-file`, never from the command line.
    Create {
        /// Organization id.
        #[arg(long)]
        org: String,
        /// File holding the upstream API key (default: read one line from stdin).
        #[arg(long, value_name = "FILE")]
        api_key_file: Option<PathBuf>,
        /// Scopes, comma separated (default: every service).
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        /// Rate limit: requests per second (needs --burst).
        #[arg(long, requires = "burst")]
        rps: Option<u32>,
        /// Rate limit: burst size (needs --rps).
        #[arg(long, requires = "rps")]
        burst: Option<u32>,
        #[command(flatten)]
        conn: AdminConnection,
    },
    /// Show an organization's binding.
    Get {
        /// Organization id.
        org: String,
        #[command(flatten)]
        conn: AdminConnection,
    },
    /// List bindings.
    List {
        /// Page size (1..=100).
        #[arg(long)]
        limit: Option<u32>,
        /// Cursor from a previous page.
        #[arg(long)]
        cursor: Option<String>,
        #[command(flatten)]
        conn: AdminConnection,
    },
    /// Check that the binding works: its key decrypts, a signing key is usable and the
    /// upstream accepts the key. Exits non-zero when a check fails.
    Validate {
        /// Organization id.
        org: String,
        #[command(flatten)]
        conn: AdminConnection,
    },
    /// Rotate the binding's credentials: start a new generation; tokens of the old one stop
    /// working after the grace period.
    Update {
        /// Organization id.
        org: String,
        /// Keep tokens of the previous generation valid this long.
        #[arg(long, default_value_t = 0)]
        grace_period_secs: u64,
        #[command(flatten)]
        conn: AdminConnection,
    },
    /// Delete the binding; every token of it stops working at once.
    Delete {
        /// Organization id.
        org: String,
        #[command(flatten)]
        conn: AdminConnection,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokensCommand {
    /// Mint a function token (what a deploy puts into TELNYX_API_KEY).
    Issue {
        /// Organization id.
        org: String,
        /// Function id recorded in the token.
        #[arg(long)]
        function_id: Option<String>,
        /// Lifetime in seconds (default: tokens.default_ttl_secs).
        #[arg(long)]
        ttl_secs: Option<u64>,
        /// Narrow the token to these scopes, comma separated.
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        #[command(flatten)]
        conn: AdminConnection,
    },
    /// Revoke one token by its id (jti).
    Revoke {
        /// Token id.
        jti: String,
        #[command(flatten)]
        conn: AdminConnection,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// List signing keys (public parts only).
    List {
        #[command(flatten)]
        conn: AdminConnection,
    },
    /// Create a new active signing key; older keys keep verifying until retired.
    Rotate {
        #[command(flatten)]
        conn: AdminConnection,
    },
    /// Retire a verify-only key: tokens it signed stop working. Refused for the active key.
    Retire {
        /// Key id (kid).
        kid: String,
        #[command(flatten)]
        conn: AdminConnection,
    },
}
