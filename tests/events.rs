//! Every sample event under `events/` (the files `sam local invoke -e` takes) goes through
//! `lambda_http`'s own event deserialisation and the function's handler, against DynamoDB
//! Local, in an order that makes each one succeed.

use std::path::Path;

use api_tests::stand_in::StandIns;
use api_tests::{sdk_config, unique, TestApi};
use serde_json::Value;
use shared::config::Tables;
use shared::{Config, Context, Function};

/// Files in the order they are replayed, with the status each must produce.
const SEQUENCE: &[(&str, u16)] = &[
    ("register", 200),
    ("register-options", 204),
    ("login", 200),
    ("rooms-create", 201),
    ("rooms-list", 200),
    ("rooms-get", 200),
    ("rooms-update", 200),
    ("rooms-delete", 204),
    ("user_info", 200),
    ("user_icon", 200),
    ("user_password", 200),
    ("logout", 200),
    ("phone_captcha", 200),
    ("phone_login", 200),
    // Verified against a stand-in WeChat that knows the sample's token and openid.
    ("sns_login", 201),
];

/// The token the sample files carry; replaced by the live one before each call.
const SAMPLE_TOKEN: &str = "8ca6dd209e7f780229cdee74ef525dfe";
const SAMPLE_CAPTCHA: &str = "123456";
const SAMPLE_PHONE: &str = "+8613800138000";

fn function_of(file_stem: &str) -> Function {
    let crate_name = file_stem.split('-').next().unwrap();
    *Function::ALL.iter().find(|f| f.crate_name() == crate_name).unwrap_or_else(|| panic!("no function {crate_name}"))
}

fn events_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../events"))
}

#[tokio::test]
async fn every_sample_event_runs_through_lambda_http_and_its_handler() {
    let mut files: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut listed: Vec<String> = SEQUENCE.iter().map(|(f, _)| (*f).to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed, "every events/ file is replayed, and only those");

    let providers = StandIns::start().await;
    let sns: Value = serde_json::from_str(read_event("sns_login")["body"].as_str().unwrap()).unwrap();
    providers.wechat.grant(sns["access_token"].as_str().unwrap(), sns["snsid"].as_str().unwrap(), "");
    let mut config = Config { tables: Tables::local(&unique("ev")), ..Config::default() };
    providers.configure(&mut config);
    let api = TestApi::serve(Context::new(config, &sdk_config().await)).await;
    let mut token = SAMPLE_TOKEN.to_owned();
    for (stem, status) in SEQUENCE {
        let raw = std::fs::read_to_string(events_dir().join(format!("{stem}.json"))).unwrap();
        let mut raw = raw.replace(SAMPLE_TOKEN, &token);
        if *stem == "phone_login" {
            // The code the previous event sent, read back from moto like the phone would.
            raw = raw.replace(SAMPLE_CAPTCHA, &api_tests::latest_code(SAMPLE_PHONE).await);
        }
        let request = lambda_http::request::from_str(&raw).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let response = shared::http::respond(&api.ctx, function_of(stem), request).await;
        assert_eq!(response.status().as_u16(), *status, "{stem}: {:?}", response.body());
        if let lambda_http::Body::Text(text) = response.body() {
            let body: Value = serde_json::from_str(text).unwrap();
            assert_eq!(body["code"], status.to_string());
            if let Some(t) = body["token"].as_str() {
                token = t.to_owned();
            }
        }
    }
    assert_eq!(providers.wechat.requests(), 1, "the sample SnsLogin was verified with the provider");
}

fn read_event(stem: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(events_dir().join(format!("{stem}.json"))).unwrap()).unwrap()
}

#[tokio::test]
async fn an_event_without_a_resource_is_routed_by_its_path() {
    let api = TestApi::start().await;
    let raw = std::fs::read_to_string(events_dir().join("register.json")).unwrap();
    let mut event: Value = serde_json::from_str(&raw).unwrap();
    event["requestContext"].as_object_mut().unwrap().remove("resourcePath");
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let response = shared::http::respond(&api.ctx, Function::Register, request).await;
    assert_eq!(response.status().as_u16(), 200, "{:?}", response.body());
}
