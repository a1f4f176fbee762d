//! `import --from DIR [--dry-run] [--chunk N] [--concurrency N]
//!        [--users-table T --tokens-table T --rooms-table T] [--img-base URL]`
//!
//! Imports a legacy export into the tables the environment names, exactly as the API reads
//! them: `USERS_TABLE`, `TOKENS_TABLE`, `ROOMS_TABLE` (or the flags; unset: the local stack's,
//! which `make run` serves), the endpoint and credentials of the ordinary AWS chain
//! (`AWS_ENDPOINT_URL_DYNAMODB` for DynamoDB Local, a profile or keys for a deployed stack).
//! Progress goes to stderr (a bar on a terminal, plain lines otherwise); the last line of
//! stdout is the JSON summary. Exit 0: all taken; 1: something rejected (`<DIR>/rejects.jsonl`);
//! 2: the run stopped (outage, bad arguments): run it again, it goes on where it stopped.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use legacy_import::{Kind, Options, Progress};
use shared::{Config, Context};

struct Bar(Option<ProgressBar>, Mutex<Option<Kind>>);

impl Progress for Bar {
    fn advance(&self, kind: Kind, lines_done: u64) {
        match &self.0 {
            Some(bar) => {
                let mut current = self.1.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if *current != Some(kind) {
                    *current = Some(kind);
                    bar.set_prefix(kind.file());
                }
                bar.set_position(lines_done);
            }
            None => eprintln!("[import] {} {lines_done} lines", kind.file()),
        }
    }
}

fn usage() -> String {
    "usage: import --from DIR [--dry-run] [--chunk N] [--concurrency N] \
     [--users-table T] [--tokens-table T] [--rooms-table T] [--img-base URL]"
        .into()
}

fn parse_args(config: &mut Config) -> Result<Options, String> {
    let mut opts = Options {
        from: Default::default(),
        dry_run: false,
        chunk: 256,
        concurrency: 16,
        allowed_countries: config.sms.allowed_countries.clone(),
        img_base: None,
    };
    let mut from = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value\n{}", usage()));
        match arg.as_str() {
            "--from" => from = Some(value()?),
            "--dry-run" => opts.dry_run = true,
            "--chunk" => opts.chunk = value()?.parse().map_err(|_| "--chunk needs a number")?,
            "--concurrency" => opts.concurrency = value()?.parse().map_err(|_| "--concurrency needs a number")?,
            "--users-table" => config.tables.users = value()?,
            "--tokens-table" => config.tables.tokens = value()?,
            "--rooms-table" => config.tables.rooms = value()?,
            "--img-base" => {
                let base = value()?;
                shared::validate::check_http_url("img", &base).map_err(|_| "--img-base needs an http(s) URL")?;
                opts.img_base = Some(base);
            }
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    opts.from = from.ok_or_else(usage)?.into();
    Ok(opts)
}

/// VmHWM of this process (Linux): the figure `make bench-import` holds flat across sizes.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("[import] {e}");
            return ExitCode::from(2);
        }
    };
    let opts = match parse_args(&mut config) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let sdk = shared::sdk::config().await;
    let ctx = Context::new(config, &sdk);
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {pos} lines {per_sec} [{elapsed_precise}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    });
    let progress = Bar(bar, Mutex::new(None));
    let tables = ctx.store.tables();
    eprintln!(
        "[import] {} into {}, {}, {}{}",
        opts.from.display(),
        tables.users,
        tables.rooms,
        tables.tokens,
        if opts.dry_run { " (dry run: nothing written)" } else { "" }
    );
    let started = std::time::Instant::now();
    let result = legacy_import::run(&ctx.store, &opts, &progress).await;
    let wrap = std::time::Duration::from_nanos(legacy_import::WRAP_NANOS.load(std::sync::atomic::Ordering::Relaxed));
    eprintln!(
        "[import] {:.1} s wall, {:.1} s argon2id wrapping (CPU, all threads), peak RSS {} KiB",
        started.elapsed().as_secs_f64(),
        wrap.as_secs_f64(),
        peak_rss_kib().map_or("?".into(), |k| k.to_string())
    );
    if let Some(bar) = &progress.0 {
        bar.finish_and_clear();
    }
    match result {
        Ok(summary) => {
            if summary.rejected > 0 {
                eprintln!("[import] {} rejected: {}", summary.rejected, opts.from.join("rejects.jsonl").display());
            }
            println!("{}", summary.to_json());
            if summary.rejected > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("[import] stopped: {e}; run it again to go on");
            ExitCode::from(2)
        }
    }
}
