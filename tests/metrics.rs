//! The EMF lines the functions write, over HTTP through the local server: each request that
//! counted something writes one line naming its function, and the counts are what happened
//! (logins ok/failed/locked, captchas sent/refused, provider failures, deletions, DynamoDB calls).

use std::sync::{Arc, Mutex};

use api_tests::stand_in::{Kind, Mode, StandIns};
use api_tests::{latest_code, sdk_config, unique, unique_phone, TestApi};
use serde_json::{json, Value};
use shared::config::Tables;
use shared::metrics::{Metric, Metrics, Sink};
use shared::{Config, Context};

struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    /// The lines written since the last call, parsed.
    fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *self.0.lock().unwrap()).iter().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// The one line of the request just made.
    fn one(&self, function: &str) -> Value {
        let lines = self.take();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = lines.into_iter().next().unwrap();
        assert_eq!(line["Function"], function, "{line}");
        let cw = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "MobileBackend/test");
        // Every value the line carries is declared as a metric, and every declared one is there.
        for m in cw["Metrics"].as_array().unwrap() {
            assert!(line[m["Name"].as_str().unwrap()].as_u64().unwrap() > 0, "{line}");
        }
        line
    }
}

fn n(line: &Value, m: Metric) -> u64 {
    line[m.name()].as_u64().unwrap_or(0)
}

async fn start(providers: &StandIns) -> (TestApi, Lines) {
    let mut config = Config { tables: Tables::local(&unique("mx")), ..Config::default() };
    config.sms.resend_interval = std::time::Duration::from_secs(60);
    providers.configure(&mut config);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut ctx = Context::new(config, &sdk_config().await);
    ctx.metrics = Metrics::new("MobileBackend/test", Sink::Memory(lines.clone()));
    let api = TestApi::serve(ctx).await;
    (api, Lines(lines))
}

#[tokio::test]
async fn every_function_counts_what_happened() {
    let providers = StandIns::start().await;
    let (api, lines) = start(&providers).await;
    assert!(lines.take().is_empty(), "table creation is not a request");

    let name = unique("mx");
    let reg = api.register(&name).await;
    let line = lines.one("register");
    assert_eq!(n(&line, Metric::ColdStart), 1, "the first request of the sandbox: {line}");
    assert_eq!(n(&line, Metric::DynamoDbCalls), 3, "two counters and the transaction: {line}");
    assert_eq!(n(&line, Metric::DynamoDbRetries), 0);
    assert!(!line.to_string().contains(reg["token"].as_str().unwrap()), "no token in a metrics line");

    api.post("/login/", json!({"username": name, "password": "password123"})).await.assert_success(200);
    let line = lines.one("login");
    assert_eq!((n(&line, Metric::LoginOk), n(&line, Metric::ColdStart)), (1, 0), "{line}");

    for _ in 0..5 {
        api.post("/login/", json!({"username": name, "password": "wrong-password"})).await.assert_fail(401);
        let line = lines.one("login");
        assert_eq!((n(&line, Metric::LoginFailed), n(&line, Metric::LoginOk)), (1, 0), "{line}");
    }
    api.post("/login/", json!({"username": name, "password": "wrong-password"})).await.assert_fail(429);
    let line = lines.one("login");
    assert_eq!((n(&line, Metric::LoginLocked), n(&line, Metric::LoginFailed)), (1, 0), "{line}");

    // OPTIONS on /login/ is answered by the login function but is no login.
    let options = api.send_raw(reqwest::Method::OPTIONS, "/login/", None, &[]).await;
    assert_eq!(options.status, 204);
    assert!(lines.take().is_empty(), "nothing counted, nothing written");

    let (national, e164) = unique_phone();
    api.post("/phonelogin/", json!({"phone": national})).await.assert_success(200);
    assert_eq!(n(&lines.one("phone_captcha"), Metric::CaptchaSent), 1);
    api.post("/phonelogin/", json!({"phone": national})).await.assert_fail(429);
    let line = lines.one("phone_captcha");
    assert_eq!((n(&line, Metric::CaptchaRefused), n(&line, Metric::CaptchaSent)), (1, 0), "{line}");
    let code = latest_code(&e164).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    api.get(&format!("/phonelogin/?phone={national}&captcha={wrong}")).await.assert_fail(401);
    assert_eq!(n(&lines.one("phone_login"), Metric::LoginFailed), 1);
    api.get(&format!("/phonelogin/?phone={national}&captcha={code}")).await.assert_success(200);
    assert_eq!(n(&lines.one("phone_login"), Metric::LoginOk), 1);

    let token = reg["token"].as_str().unwrap();
    let room = api.post("/rooms/", json!({"room_alias": unique("mx"), "active": true, "token": token})).await;
    room.assert_success(201);
    assert_eq!(n(&lines.one("rooms"), Metric::RoomDeleted), 0);
    let del =
        api.send_raw(reqwest::Method::DELETE, &format!("/rooms/{}/?token={token}", room.str("pk")), None, &[]).await;
    assert_eq!(del.status, 204);
    assert_eq!(n(&lines.one("rooms"), Metric::RoomDeleted), 1);

    let wechat = providers.get(Kind::WeChat);
    let snsid = Kind::WeChat.subject(7);
    let body = |tok: &str| {
        json!({"login_type": "1", "snsid": snsid, "access_token": tok, "username": unique("mx"), "nickname": "x",
            "icon": "https://a.example/i.png"})
    };
    api.post("/snslogin/", body("never-granted")).await.assert_fail(401);
    let line = lines.one("sns_login");
    assert_eq!((n(&line, Metric::LoginFailed), n(&line, Metric::ProviderFailure)), (1, 0), "{line}");
    wechat.grant("granted", &snsid, Kind::WeChat.our_app());
    wechat.set_mode(Mode::ServerError);
    api.post("/snslogin/", body("granted")).await.assert_fail(502);
    let line = lines.one("sns_login");
    assert_eq!((n(&line, Metric::ProviderFailure), n(&line, Metric::LoginFailed)), (1, 0), "{line}");
    wechat.set_mode(Mode::Normal);
    api.post("/snslogin/", body("granted")).await.assert_success(201);
    assert_eq!(n(&lines.one("sns_login"), Metric::LoginOk), 1);
}

#[tokio::test]
async fn no_namespace_no_lines() {
    let config = Config { tables: Tables::local(&unique("mx")), ..Config::default() };
    assert!(config.metrics_namespace.is_empty(), "local runs write no metrics lines by default");
    let ctx = Context::new(config, &sdk_config().await);
    assert!(format!("{:?}", ctx.metrics).contains("Off"), "{:?}", ctx.metrics);
}

#[tokio::test]
async fn an_sms_that_sns_refuses_is_a_failed_captcha_and_a_provider_failure() {
    let config = Config { tables: Tables::local(&unique("mx")), ..Config::default() };
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sdk = sdk_config().await;
    let mut ctx = Context::new(config, &sdk);
    ctx.metrics = Metrics::new("MobileBackend/test", Sink::Memory(lines.clone()));
    // SNS on a port nothing listens on: the connection is refused.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sns = aws_sdk_sns::config::Builder::from(&sdk)
        .endpoint_url(format!("http://{}", closed.local_addr().unwrap()))
        .build();
    drop(closed);
    ctx.sms = shared::sms::SmsSender::Sns(shared::sms::sns::SnsSender::from_client(
        aws_sdk_sns::Client::from_conf(sns),
        &shared::config::SmsConfig::default(),
    ));
    let api = TestApi::serve(ctx).await;
    let lines = Lines(lines);
    api.post("/phonelogin/", json!({"phone": unique_phone().0})).await.assert_fail(503);
    let line = lines.one("phone_captcha");
    assert_eq!(n(&line, Metric::CaptchaFailed), 1, "{line}");
    assert_eq!(n(&line, Metric::ProviderFailure), 1, "{line}");
    assert_eq!(n(&line, Metric::CaptchaSent), 0, "{line}");
}
