//! `local-api [--port N] [--template PATH] [--no-create-tables | --create-tables-only]`: creates the template's tables
//! in the DynamoDB the environment points at (DynamoDB Local) and its avatar bucket in the S3
//! it points at (moto), then serves the API on
//! 127.0.0.1. Configuration is the same environment the Lambdas read.

use std::sync::Arc;

use local_api::template::Template;
use shared::Context;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let mut template_path = Template::default_path();
    let mut create_tables = true;
    // `make import` and `make bench-import`: the tables, then exit.
    let mut serve = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse().ok()).ok_or("--port needs a number")?,
            "--template" => template_path = args.next().ok_or("--template needs a path")?.into(),
            "--no-create-tables" => create_tables = false,
            "--create-tables-only" => serve = false,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let ctx = Context::from_env().await?;
    if create_tables {
        let template = Template::load(&template_path)?;
        let setup = local_api::tables::setup_client(ctx.store.client());
        let created = local_api::tables::create_all(&setup, &template, ctx.store.tables()).await?;
        for name in created {
            eprintln!("created table {name}");
        }
        let bucket = ctx.avatars.bucket();
        if local_api::tables::create_bucket(ctx.avatars.client(), bucket).await? {
            eprintln!("created bucket {bucket}");
        }
    }
    if !serve {
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("local API listening on http://{}", listener.local_addr()?);
    local_api::server::serve(Arc::new(ctx), listener).await?;
    Ok(())
}
