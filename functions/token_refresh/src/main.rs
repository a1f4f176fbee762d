use shared::{Context, Function};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let ctx = Context::from_env().await?;
    lambda_http::run(shared::http::service(ctx, Function::TokenRefresh)).await
}
