use shared::{Context, Function};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let ctx = Context::from_env().await?;
    // Checks captcha codes: never with the public development key inside Lambda.
    shared::secrets::require_captcha_secret(&ctx.config)?;
    lambda_http::run(shared::http::service(ctx, Function::PasswordReset)).await
}
