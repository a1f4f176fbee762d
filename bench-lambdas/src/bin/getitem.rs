//! What the AWS SDK costs on its own: one DynamoDB client built with the functions' client
//! setup (`shared::sdk::config`) at Init, one GetItem per request.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{service_fn, Body, Error, Request, Response};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let client = aws_sdk_dynamodb::Client::new(&shared::sdk::config().await);
    let table = std::env::var("USERS_TABLE")?;
    lambda_http::run(service_fn(move |_: Request| {
        let (client, table) = (client.clone(), table.clone());
        async move {
            let item = client.get_item().table_name(table).key("id", AttributeValue::S("bench".into())).send().await?;
            Ok::<_, Error>(Response::new(Body::from(format!("{{\"found\":{}}}", item.item.is_some()))))
        }
    }))
    .await
}
