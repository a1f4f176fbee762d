//! Every sample event under `events/` (the files `sam local invoke -e` takes) goes through
//! `lambda_http`'s own event deserialisation and the function's handler, against DynamoDB
//! Local, in an order that makes each one succeed.

use api_tests::replay::{self, Live, SEQUENCE};
use api_tests::{sdk_config, unique, TestApi};
use serde_json::Value;
use shared::config::Tables;
use shared::{Config, Context, Function};

#[tokio::test]
async fn every_sample_event_runs_through_lambda_http_and_its_handler() {
    replay::assert_sequence_covers_events();

    let providers = replay::stand_in_wechat().await;
    let mut config = Config { tables: Tables::local(&unique("ev")), ..Config::default() };
    providers.configure(&mut config);
    // The replay texts one phone twice in a row (bind, then reset).
    config.sms.resend_interval = std::time::Duration::ZERO;
    let api = TestApi::serve(Context::new(config, &sdk_config().await)).await;
    let mut live = Live::default();
    for (stem, status) in SEQUENCE {
        let raw = replay::event(stem, &live).await;
        let request = lambda_http::request::from_str(&raw).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let response = shared::http::respond(&api.ctx, replay::function_of(stem), request).await;
        assert_eq!(response.status().as_u16(), *status, "{stem}: {:?}", response.body());
        if let lambda_http::Body::Text(text) = response.body() {
            let body: Value = serde_json::from_str(text).unwrap();
            assert_eq!(body["code"], status.to_string());
            live.update(&body);
        }
    }
    assert_eq!(providers.wechat.requests(), 1, "the sample SnsLogin was verified with the provider");
}

#[tokio::test]
async fn an_event_without_a_resource_is_routed_by_its_path() {
    let api = TestApi::start().await;
    let raw = replay::event("register", &Live::default()).await;
    let mut event: Value = serde_json::from_str(&raw).unwrap();
    event["requestContext"].as_object_mut().unwrap().remove("resourcePath");
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = shared::http::respond(&api.ctx, Function::Register, request).await;
    assert_eq!(response.status().as_u16(), 200, "{:?}", response.body());
}
