//! `make load`: LOAD_USERS virtual users (default 64) for LOAD_SECONDS (default 30) against a
//! local server on the stack `scripts/load.sh` starts; prints throughput, p50/p95/p99 per
//! endpoint and the status counts, then checks the invariants (exit code 1 if one is broken).

use std::time::Duration;

use api_tests::load::{run, LoadConfig};
use api_tests::TestApi;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let cfg = LoadConfig {
        users: env_number("LOAD_USERS", 64) as usize,
        duration: Duration::from_secs(env_number("LOAD_SECONDS", 30)),
    };
    println!(
        "profile: {}; {} virtual users for {:?}",
        if cfg!(debug_assertions) { "debug" } else { "release" },
        cfg.users,
        cfg.duration
    );
    let api = TestApi::start().await;
    let report = run(&api, &cfg).await;
    report.print();
    if report.server_errors() > 0 || !report.violations.is_empty() {
        std::process::exit(1);
    }
}
