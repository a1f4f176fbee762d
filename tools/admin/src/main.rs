//! `admin [--stack NAME] <command>`: see `admin::USAGE` and docs/operator.md. Without
//! `--stack`, the tables the environment names (`USERS_TABLE`, ...; unset: the local stack's,
//! which `make run` serves) at the endpoint of the ordinary AWS chain (`make admin` points it
//! at DynamoDB Local); with it, the deployed stack's tables, with the operator's credentials.
//! The result is one JSON object on stdout; exit 1: no such account, 2: the command failed.

use std::process::ExitCode;

use shared::{Config, Context};

async fn run() -> Result<serde_json::Value, admin::AdminError> {
    let invocation = admin::parse(std::env::args().skip(1))?;
    let mut config = Config::from_env().map_err(admin::AdminError::Config)?;
    let sdk = shared::sdk::config().await;
    if let Some(stack) = &invocation.stack {
        let deployed = admin::stack_resources(&sdk, stack).await?;
        config.tables = deployed.tables;
        config.avatars.bucket = deployed.avatar_bucket;
    }
    let ctx = Context::new(config, &sdk);
    admin::run(&ctx, &invocation.command).await
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("[admin] {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
