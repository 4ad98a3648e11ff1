//! The command line of `livy`: clap derive definitions only, no behaviour.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A command-line client for livy-server (and Apache Livy): list and inspect
/// sessions and batches, submit and follow batches, and run an interactive
/// Spark shell on a session.
#[derive(Parser, Debug)]
#[command(name = "livy", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The server's URL [env: LIVY_URL; else `url` in the config file; else http://localhost:8998]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "LIVY_URL",
        hide_env = true
    )]
    pub url: Option<String>,
    /// User for HTTP Basic authentication [env: LIVY_USER]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "LIVY_USER",
        hide_env = true
    )]
    pub user: Option<String>,
    /// Password for HTTP Basic authentication [env: LIVY_PASSWORD]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "LIVY_PASSWORD",
        hide_env = true,
        hide_env_values = true
    )]
    pub password: Option<String>,
    /// Config file (TOML: url, user, password) [default: ~/.config/livy/config.toml]
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "LIVY_CONFIG",
        hide_env = true
    )]
    pub config: Option<PathBuf>,
    /// Print the server's JSON instead of tables and messages (for scripts)
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
    #[command(subcommand)]
    pub command: Noun,
}

const AFTER_HELP: &str = "\
Flags win over the environment, which wins over the config file.
Exit codes: 0 ok; 1 error (server unreachable, refused, not found); 2 usage;
3 a followed batch ended in a state other than success; 130 interrupted.";

#[derive(Subcommand, Debug)]
pub enum Noun {
    /// Interactive sessions: list, show, kill, shell
    #[command(alias = "session")]
    Sessions(SessionArgs),
    /// Batches: list, show, submit, kill
    #[command(alias = "batch")]
    Batches(Box<BatchArgs>),
}

#[derive(Args, Debug)]
pub struct SessionArgs {
    #[command(subcommand)]
    pub command: SessionCmd,
}

#[derive(Args, Debug)]
pub struct BatchArgs {
    #[command(subcommand)]
    pub command: BatchCmd,
}

#[derive(Subcommand, Debug)]
pub enum SessionCmd {
    /// List sessions as a table
    #[command(alias = "ls")]
    List(Page),
    /// Show one session (by id or name) and its statements
    Show { id: String },
    /// Delete a session (stops its Spark application)
    #[command(alias = "delete")]
    Kill { id: String },
    /// Start a session (or attach to one) and run a Spark shell on it
    Shell(Shell),
}

#[derive(Subcommand, Debug)]
pub enum BatchCmd {
    /// List batches as a table
    #[command(alias = "ls")]
    List(Page),
    /// Show one batch (by id or name) and the tail of its log
    Show {
        id: String,
        /// How many log lines to show
        #[arg(long, short = 'n', default_value_t = 20)]
        lines: usize,
    },
    /// Submit a batch (POST /batches); with --follow, stream its log to the end
    Submit(Box<Submit>),
    /// Delete a batch (kills its Spark application)
    #[command(alias = "delete")]
    Kill { id: String },
}

#[derive(Args, Debug)]
pub struct Page {
    /// Index of the first one to list
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// How many to list at most
    #[arg(long, default_value_t = 100)]
    pub size: u64,
}

#[derive(Args, Debug)]
pub struct Submit {
    /// The application: a .py, .R or .jar path or URI the server can read
    pub file: String,
    /// Arguments to the application (put `--` before ones that start with `-`)
    pub args: Vec<String>,
    /// Main class (for a jar)
    #[arg(long)]
    pub class: Option<String>,
    /// Batch name (unique among live batches)
    #[arg(long)]
    pub name: Option<String>,
    /// A Spark configuration pair; repeatable
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub conf: Vec<(String, String)>,
    /// Run the application as this user (needs impersonation on the server)
    #[arg(long)]
    pub proxy_user: Option<String>,
    /// YARN queue
    #[arg(long)]
    pub queue: Option<String>,
    /// Driver memory, e.g. 1g
    #[arg(long)]
    pub driver_memory: Option<String>,
    /// Executor memory, e.g. 2g
    #[arg(long)]
    pub executor_memory: Option<String>,
    /// Number of executors
    #[arg(long)]
    pub num_executors: Option<u32>,
    /// A Python dependency; repeatable
    #[arg(long = "py-file", value_name = "URI")]
    pub py_files: Vec<String>,
    /// A jar dependency; repeatable
    #[arg(long = "jar", value_name = "URI")]
    pub jars: Vec<String>,
    /// A file to ship with the application; repeatable
    #[arg(long = "file", value_name = "URI")]
    pub files: Vec<String>,
    /// Stream the batch's log until it finishes; exit 0 on success, 3 otherwise
    #[arg(long, short = 'f')]
    pub follow: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Pyspark,
    Spark,
    Sql,
    Sparkr,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pyspark => "pyspark",
            Kind::Spark => "spark",
            Kind::Sql => "sql",
            Kind::Sparkr => "sparkr",
        }
    }
}

#[derive(Args, Debug)]
pub struct Shell {
    /// The statements' language; a new session is created with this kind
    /// [default: pyspark, or the attached session's kind]
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
    /// Attach to this existing session (id or name) instead of creating one
    #[arg(long)]
    pub id: Option<String>,
    /// Do not delete the session this shell created when it exits
    #[arg(long)]
    pub keep: bool,
    /// Name of the new session
    #[arg(long)]
    pub name: Option<String>,
    /// A Spark configuration pair for the new session; repeatable
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub conf: Vec<(String, String)>,
    /// Seconds to wait for the session to become idle
    #[arg(long, default_value_t = 600)]
    pub start_timeout: u64,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn pairs() {
        assert_eq!(parse_pair("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert!(parse_pair("a").is_err());
        assert!(parse_pair("=b").is_err());
    }
}
