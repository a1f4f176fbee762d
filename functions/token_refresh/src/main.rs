use shared::handlers::TokenRefresh;
use shared::Context;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let ctx = Context::from_env().await?;
    // Only TokenRefresh's own handlers: the binary links no other function's code.
    lambda_http::run(shared::http::service::<TokenRefresh>(ctx)).await
}
