use shared::handlers::PhoneBind;
use shared::Context;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let ctx = Context::from_env().await?;
    // Checks captcha codes: never with the public development key inside Lambda.
    shared::secrets::require_captcha_secret(&ctx.config)?;
    // Only PhoneBind's own handlers: the binary links no other function's code.
    lambda_http::run(shared::http::service::<PhoneBind>(ctx)).await
}
