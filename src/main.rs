//! The `livy-server` binary: serve (default), `supervise` (internal: the
//! per-application supervisor), `config-keys` (the documented key table),
//! `crds` (the custom resource definitions for Kubernetes mode) and
//! `openapi` (the REST API's OpenAPI document).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use livy_server::config::{Config, Sources, keys};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "livy-server",
    version,
    about = "A REST server for Apache Spark, wire-compatible with Apache Livy"
)]
struct Cli {
    /// Directory holding livy.conf (default: $LIVY_CONF_DIR).
    #[arg(long, global = true)]
    conf_dir: Option<PathBuf>,
    /// A configuration key, e.g. --conf livy.server.port=9000 (repeatable; beats livy.conf and the environment).
    #[arg(long = "conf", value_name = "KEY=VALUE", global = true)]
    conf: Vec<String>,
    /// Shorthand for --conf livy.server.port=PORT.
    #[arg(long)]
    port: Option<u16>,
    /// Shorthand for --conf livy.server.data-dir=DIR.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the REST server (the default).
    Serve,
    /// Print every configuration key with its default, as a Markdown table.
    ConfigKeys,
    /// Print the LivyBatch and LivySession CustomResourceDefinitions as YAML.
    Crds,
    /// Print the OpenAPI 3.1 document of the REST API (as served at /openapi.json).
    Openapi,
    /// Read a password on standard input and print its salted hash, for the
    /// users file of `livy.server.auth.type = basic` (`user:<hash>`).
    HashPassword,
    /// Internal: supervise one application's spark-submit process.
    #[command(hide = true)]
    Supervise {
        #[arg(long)]
        dir: PathBuf,
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
}

fn main() -> anyhow::Result<()> {
    return_large_allocations();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Supervise { dir, argv }) => {
            std::process::exit(livy_server::launcher::supervisor::run(&dir, &argv));
        }
        Some(Command::ConfigKeys) => {
            println!("| key | default | meaning |\n|---|---|---|");
            for k in keys::ALL {
                println!("| `{}` | `{}` | {} |", k.name, k.default, k.help);
            }
            Ok(())
        }
        Some(Command::Crds) => {
            print!(
                "{}",
                livy_server::crd::crds_yaml().context("failed to render the CRDs")?
            );
            Ok(())
        }
        Some(Command::Openapi) => {
            print!("{}", livy_server::api::openapi::document_json());
            Ok(())
        }
        Some(Command::HashPassword) => {
            let mut password = String::new();
            std::io::stdin()
                .read_line(&mut password)
                .context("failed to read the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            anyhow::ensure!(!password.is_empty(), "the password is empty");
            let hash = livy_server::auth::basic::hash_password(password)
                .map_err(|e| anyhow::anyhow!("failed to hash the password: {e}"))?;
            println!("{hash}");
            Ok(())
        }
        Some(Command::Serve) | None => serve(cli),
    }
}

fn serve(cli: Cli) -> anyhow::Result<()> {
    // Colour only for a terminal: a log file or pipe gets plain text (and
    // NO_COLOR, https://no-color.org, turns colour off everywhere).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIVY_LOG")
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
    log_inherited_signals();
    let mut pairs = cli.conf;
    if let Some(p) = cli.port {
        pairs.push(format!("{}={p}", keys::SERVER_PORT));
    }
    if let Some(d) = cli.data_dir {
        pairs.push(format!("{}={}", keys::DATA_DIR, d.display()));
    }
    let config = Config::load(&Sources::from_process(cli.conf_dir, pairs))
        .context("invalid configuration")?;
    use_keytab(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(async {
        let cancel = CancellationToken::new();
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down");
            on_signal.cancel();
        });
        livy_server::server::serve(config, cancel)
            .await
            .context("server failed")
    })
}

/// Says once which signals the server was started with ignored (a script's
/// `&`, `nohup`), before it installs handlers of its own. They stay ignored
/// here; every process it starts gets them back at their defaults.
fn log_inherited_signals() {
    use livy_server::launcher::child_signals;
    match child_signals::inherited_ignored() {
        Some(names) if names.is_empty() => {
            tracing::info!(inherited_ignored_signals = "none", "signal dispositions")
        }
        Some(names) => tracing::info!(
            inherited_ignored_signals = %names.join(","),
            "started with these signals ignored; the applications and tools it starts get them at their defaults"
        ),
        None => tracing::warn!(
            "cannot read /proc/self/status to tell which signals were inherited as ignored"
        ),
    }
}

/// GSSAPI finds the acceptor's keys through `KRB5_KTNAME`: point it at the
/// configured keytab while the process still has one thread.
#[allow(unsafe_code)]
fn use_keytab(config: &Config) {
    if let livy_server::config::auth::AuthMethod::Kerberos { keytab, .. } = &config.auth.method {
        // SAFETY: called before the async runtime (or any other thread) starts,
        // so nothing can read the environment concurrently.
        unsafe { std::env::set_var("KRB5_KTNAME", format!("FILE:{}", keytab.display())) };
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the server with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Makes glibc's malloc serve every allocation of 1 MiB or more with its own
/// mapping, returned to the system when freed. By default glibc raises that
/// threshold to the largest block freed so far (up to 32 MiB), after which
/// an Argon2 check's 19 MiB comes from a per-thread arena that keeps it:
/// measured, a flood of wrong passwords left gigabytes resident for good
/// (tests/auth_load.rs). A fixed threshold stops the raising.
#[allow(unsafe_code)]
fn return_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc tuning parameter; it is called
    // before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
