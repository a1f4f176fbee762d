//! SMS captcha and phone login over real HTTP, with DynamoDB Local and moto's SNS underneath:
//! every code is read back from moto, as the phone would receive it.

use std::time::Duration;

use api_tests::{assert_user_shape, latest_code, sdk_config, sms_for, unique, unique_phone, Method, TestApi};
use futures::future::join_all;
use serde_json::json;
use shared::config::Tables;
use shared::{Config, Context};

async fn send(api: &TestApi, phone: &str) -> api_tests::Answer {
    api.post("/phonelogin/", json!({"phone": phone})).await
}

async fn login(api: &TestApi, phone: &str, code: &str) -> api_tests::Answer {
    api.get(&format!("/phonelogin/?phone={}&captcha={code}", phone.replace('+', "%2B"))).await
}

fn quick_resend(c: &mut Config) {
    c.sms.resend_interval = Duration::ZERO;
}

#[tokio::test]
async fn send_read_the_sms_log_in_and_come_back_to_the_same_account() {
    let api = TestApi::with_config(quick_resend).await;
    let (national, e164) = unique_phone();
    let sent = send(&api, &national).await;
    sent.assert_success(200);
    assert_eq!(sent.body["msg"], "验证码已发送");
    let messages = sms_for(&e164).await;
    assert_eq!(messages.len(), 1);
    let code = latest_code(&e164).await;
    assert_eq!(messages[0], format!("您的登录验证码是{code}，5分钟内有效。"));
    assert!(!sent.raw.windows(6).any(|w| w == code.as_bytes()), "the code never appears in a response");

    let first = login(&api, &national, &code).await;
    first.assert_success(200);
    assert_user_shape(&first.body);
    assert_eq!(first.body["nickname"], format!("{}****{}", &national[..3], &national[7..]));
    assert_eq!(first.body["login_type"], "0");
    let pk = first.str("pk").to_owned();
    api.put(&format!("/users/{pk}/"), json!({"token": first.body["token"], "city": "北京"})).await.assert_success(200);

    // E.164 with + works too, and lands in the same account.
    send(&api, &e164).await.assert_success(200);
    let second = login(&api, &e164, &latest_code(&e164).await).await;
    second.assert_success(200);
    assert_eq!(second.body["pk"], pk.as_str());
    assert_eq!(second.body["city"], "北京");
    assert_ne!(second.body["token"], first.body["token"]);
    // The code is stored only as a keyed hash.
    let stored = api.all_items().await.join("\n");
    assert!(!stored.contains(&code));
}

#[tokio::test]
async fn a_second_send_within_60_seconds_is_429() {
    let api = TestApi::start().await;
    let (national, e164) = unique_phone();
    send(&api, &national).await.assert_success(200);
    let again = send(&api, &national).await;
    again.assert_fail(429);
    assert_eq!(again.body["error"], "sms_resend_too_soon");
    let wait: u64 = again.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((55..=60).contains(&wait), "{wait}");
    assert_eq!(sms_for(&e164).await.len(), 1, "no second SMS went out");
}

#[tokio::test]
async fn the_sixth_send_to_one_phone_from_one_address_in_a_window_is_429() {
    let api = TestApi::with_config(|c| {
        quick_resend(c);
        c.sms.max_live_codes = 10;
    })
    .await;
    let (national, e164) = unique_phone();
    for i in 0..5 {
        send(&api, &national).await.assert_success(200);
        assert_eq!(sms_for(&e164).await.len(), i + 1);
    }
    let sixth = send(&api, &national).await;
    sixth.assert_fail(429);
    assert_eq!(sixth.body["error"], "sms_phone_ip_limit");
    assert_eq!(sms_for(&e164).await.len(), 5);
}

#[tokio::test]
async fn the_twenty_first_send_from_one_ip_is_429() {
    let api = TestApi::start().await;
    let mut phones = Vec::new();
    for _ in 0..20 {
        let (national, _) = unique_phone();
        send(&api, &national).await.assert_success(200);
        phones.push(national);
    }
    let (national, e164) = unique_phone();
    let a = send(&api, &national).await;
    a.assert_fail(429);
    assert_eq!(a.body["error"], "sms_ip_limit");
    assert!(sms_for(&e164).await.is_empty());
}

#[tokio::test]
async fn a_code_still_works_after_four_wrong_tries() {
    let api = TestApi::start().await;
    let (national, e164) = unique_phone();
    send(&api, &national).await.assert_success(200);
    let code = latest_code(&e164).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..4 {
        login(&api, &national, wrong).await.assert_fail(401);
    }
    login(&api, &national, &code).await.assert_success(200);
}

#[tokio::test]
async fn five_wrong_codes_kill_the_code() {
    let api = TestApi::start().await;
    let (national, e164) = unique_phone();
    send(&api, &national).await.assert_success(200);
    let code = latest_code(&e164).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let a = login(&api, &national, wrong).await;
        a.assert_fail(401);
        assert_eq!(a.body["error"], "invalid_captcha");
    }
    login(&api, &national, &code).await.assert_fail(401);
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let api = TestApi::with_config(|c| c.sms.code_ttl = Duration::from_secs(1)).await;
    let (national, e164) = unique_phone();
    send(&api, &national).await.assert_success(200);
    let code = latest_code(&e164).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    login(&api, &national, &code).await.assert_fail(401);
}

#[tokio::test]
async fn a_code_works_once() {
    let api = TestApi::start().await;
    let (national, e164) = unique_phone();
    send(&api, &national).await.assert_success(200);
    let code = latest_code(&e164).await;
    login(&api, &national, &code).await.assert_success(200);
    login(&api, &national, &code).await.assert_fail(401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_concurrent_logins_with_one_code_give_one_token() {
    let api = TestApi::start().await;
    for _ in 0..3 {
        let (national, e164) = unique_phone();
        send(&api, &national).await.assert_success(200);
        let code = latest_code(&e164).await;
        let answers = join_all((0..2).map(|_| login(&api, &national, &code))).await;
        let mut statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        statuses.sort();
        assert_eq!(statuses, [200, 401]);
    }
}

#[tokio::test]
async fn sns_down_is_503_and_costs_the_phone_nothing() {
    let tables = Tables::local(&unique("snsdown"));
    let sdk = sdk_config().await;
    // A port that was just free: nothing answers there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut down = Context::new(Config { tables: tables.clone(), ..Config::default() }, &sdk);
    let broken = aws_sdk_sns::config::Builder::from(&sdk).endpoint_url(format!("http://{closed}")).build();
    down.sms = shared::sms::SmsSender::Sns(shared::sms::sns::SnsSender::from_client(
        aws_sdk_sns::Client::from_conf(broken),
        &shared::config::SmsConfig::default(),
    ));
    let down = TestApi::serve(down).await;
    let (national, e164) = unique_phone();
    let before = down.all_items().await;
    let a = send(&down, &national).await;
    a.assert_fail(503);
    assert_eq!(a.body["error"], "service_unavailable");
    assert!(sms_for(&e164).await.is_empty());
    let counter = |i: &String| i.contains("smslimit#") || i.contains("smsbudget#");
    let after: Vec<String> = down.all_items().await.into_iter().filter(|i| !counter(i)).collect();
    assert_eq!(before, after, "no code stored as sent");
    assert_eq!(down.all_items().await.iter().filter(|i| counter(i)).count(), 7, "3 limits and 4 budgets taken");
    assert!(
        down.all_items().await.iter().filter(|i| counter(i)).all(|i| i.contains("N(\"0\")")),
        "counters given back"
    );

    // SNS is back: the retry is not rate-limited.
    let up = TestApi::serve(Context::new(Config { tables, ..Config::default() }, &sdk)).await;
    send(&up, &national).await.assert_success(200);
    login(&up, &national, &latest_code(&e164).await).await.assert_success(200);
}

#[tokio::test]
async fn a_phone_typed_into_someone_elses_profile_does_not_lead_into_their_account() {
    let api = TestApi::start().await;
    let (national, e164) = unique_phone();
    let squatter = api
        .post(
            "/users/",
            json!({"username": unique("squat"), "password": "password123", "nickname": "s", "phone": national}),
        )
        .await;
    squatter.assert_success(200);
    let victim = api.register(&unique("victim")).await;
    api.put(&format!("/users/{}/", victim["pk"].as_str().unwrap()), json!({"token": victim["token"], "phone": e164}))
        .await
        .assert_success(200);

    send(&api, &national).await.assert_success(200);
    let a = login(&api, &national, &latest_code(&e164).await).await;
    a.assert_success(200);
    assert_ne!(a.body["pk"], squatter.body["pk"]);
    assert_ne!(a.body["pk"], victim["pk"]);
    assert_eq!(a.body["phone"], e164.as_str());
}

#[tokio::test]
async fn bad_phone_input_sends_nothing_and_stores_nothing() {
    let api = TestApi::start().await;
    let (national, e164) = unique_phone();
    let kb = "1".repeat(1024);
    let thirty = "1".repeat(30);
    let post = |body: &str| (Method::POST, "/phonelogin/".to_owned(), body.to_owned());
    let get = |query: String| (Method::GET, format!("/phonelogin/?{query}"), String::new());
    let cases = vec![
        ("123", post(r#"{"phone":"123"}"#), "invalid_phone"),
        ("+999123", post(r#"{"phone":"+999123"}"#), "invalid_phone"),
        ("+999 country", post(r#"{"phone":"+99912345678"}"#), "invalid_phone"),
        ("letters", post(r#"{"phone":"1380013800a"}"#), "invalid_phone"),
        ("30 digits", post(&format!(r#"{{"phone":"{thirty}"}}"#)), "invalid_phone"),
        ("empty", post(r#"{"phone":""}"#), "invalid_phone"),
        ("missing", post("{}"), "missing_phone"),
        ("12x prefix", post(r#"{"phone":"12800138000"}"#), "invalid_phone"),
        ("+86 short", post(r#"{"phone":"+86123456"}"#), "invalid_phone"),
        ("array body", post(r#"["13800138000"]"#), "malformed_body"),
        ("malformed", post(r#"{"phone":"#), "malformed_body"),
        ("phone object", post(r#"{"phone":{"n":1}}"#), "invalid_phone"),
        ("captcha 5 digits", get(format!("phone={national}&captcha=12345")), "invalid_captcha"),
        ("captcha letters", get(format!("phone={national}&captcha=12a456")), "invalid_captcha"),
        ("captcha 1 kB", get(format!("phone={national}&captcha={kb}")), "invalid_captcha"),
        ("captcha missing", get(format!("phone={national}")), "missing_captcha"),
        ("phone missing", get("captcha=123456".into()), "missing_phone"),
        ("login bad phone", get("phone=123&captcha=123456".into()), "invalid_phone"),
    ];
    let before = api.all_items().await;
    for (name, (method, path, body), error) in cases {
        let body = if body.is_empty() { None } else { Some(body.into_bytes()) };
        let a = api.send_raw(method, &path, body, &[]).await;
        a.assert_fail(400);
        assert_eq!(a.body["error"], error, "{name}: {}", a.body);
        assert_eq!(before, api.all_items().await, "{name} stored something");
    }
    assert!(sms_for(&e164).await.is_empty());
    assert!(sms_for("123").await.is_empty() && sms_for("+999123").await.is_empty());
}
