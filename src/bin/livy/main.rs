//! `livy`: a command-line client for livy-server's REST API (and Apache
//! Livy's). It talks HTTP only and never links the server's code paths.
//! Every user mistake ends in one line on stderr and a non-zero exit code,
//! never a panic.

mod cli;
mod client;
mod config;
mod follow;
mod multiline;
mod render;
mod sanitize;
mod shell;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use serde_json::Value;

use cli::{BatchCmd, Cli, Noun, SessionCmd};
use client::Client;

/// Exit codes (also in `livy --help`).
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_BATCH_FAILED: i32 = 3;
pub const EXIT_INTERRUPTED: i32 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(EXIT_ERROR)),
        Err(e) => {
            eprintln!("livy: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn connect(cli: &Cli) -> anyhow::Result<Client> {
    let file = config::load(cli.config.as_deref())?;
    let given = config::Given {
        url: cli.url.clone(),
        user: cli.user.clone(),
        password: cli.password.clone(),
    };
    let resolved = config::resolve(given, file)?;
    Ok(Client::new(&resolved.url, resolved.auth)?)
}

fn print_json(v: &Value) {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    println!("{text}");
}

fn page(p: &cli::Page) -> [(&'static str, String); 2] {
    [("from", p.from.to_string()), ("size", p.size.to_string())]
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let client = connect(&cli)?;
    let json = cli.json;
    match &cli.command {
        Noun::Sessions(a) => match &a.command {
            SessionCmd::List(p) => {
                let list = client.get(&["sessions"], &page(p))?;
                if json {
                    print_json(&list);
                } else {
                    println!("{}", render::list_table(&list, true));
                }
            }
            SessionCmd::Show { id } => {
                let s = client.get(&["sessions", id], &[])?;
                let statements = client.get(&["sessions", id, "statements"], &[]);
                if json {
                    print_json(&s);
                    return Ok(0);
                }
                println!("{}", render::object_table(&s, true));
                match statements {
                    Ok(list) => {
                        let n = list["total_statements"].as_u64().unwrap_or(0);
                        println!("statements ({n}):");
                        println!("{}", render::statements_table(&list));
                    }
                    // Finished sessions keep no statements; show the log instead.
                    Err(_) => print_log(&s["log"]),
                }
            }
            SessionCmd::Kill { id } => {
                let r = client.delete(&["sessions", id])?;
                report(json, &r, &format!("session {id}"));
            }
            SessionCmd::Shell(s) => return shell::run(&client, s),
        },
        Noun::Batches(a) => match &a.command {
            BatchCmd::List(p) => {
                let list = client.get(&["batches"], &page(p))?;
                if json {
                    print_json(&list);
                } else {
                    println!("{}", render::list_table(&list, false));
                }
            }
            BatchCmd::Show { id, lines } => {
                let b = client.get(&["batches", id], &[])?;
                if json {
                    print_json(&b);
                    return Ok(0);
                }
                println!("{}", render::object_table(&b, false));
                let log = client.get(&["batches", id, "log"], &[("size", lines.to_string())])?;
                println!(
                    "log (last {lines} lines of {}):",
                    render::cell(&log["total"])
                );
                print_log(&log["log"]);
            }
            BatchCmd::Submit(s) => return submit(&client, s, json),
            BatchCmd::Kill { id } => {
                let r = client.delete(&["batches", id])?;
                report(json, &r, &format!("batch {id}"));
            }
        },
    }
    Ok(0)
}

fn print_log(lines: &Value) {
    let empty = vec![];
    for l in lines.as_array().unwrap_or(&empty) {
        println!("{}", l.as_str().unwrap_or(""));
    }
}

fn report(json: bool, r: &Value, what: &str) {
    if json {
        print_json(r);
    } else {
        println!("{what}: {}", r["msg"].as_str().unwrap_or("done"));
    }
}

fn submit(client: &Client, s: &cli::Submit, json: bool) -> anyhow::Result<i32> {
    let created = client.post(&["batches"], &follow::batch_body(s))?;
    let id = created["id"].to_string();
    if !s.follow {
        if json {
            print_json(&created);
        } else {
            println!("batch {id} submitted ({})", render::cell(&created["state"]));
        }
        return Ok(0);
    }
    eprintln!("livy: batch {id} submitted; following its log");
    // With --json, stdout is for the final JSON alone; the log goes to stderr.
    let mut out: Box<dyn Write> = if json {
        Box::new(std::io::stderr().lock())
    } else {
        Box::new(std::io::stdout().lock())
    };
    let state = follow::follow(client, &id, &mut out)?;
    let _ = out.flush();
    if json {
        let last = client.get(&["batches", &id], &[])?;
        print_json(&last);
    }
    eprintln!("livy: batch {id} finished: {state}");
    Ok(follow::exit_code(&state))
}
