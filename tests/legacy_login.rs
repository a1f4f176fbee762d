//! Lazy migration (API.md "Moving an app off the legacy server"): with `LEGACY_API_BASE` set, POST
//! /login/ for a username unknown here asks a stand-in of the legacy server's login, after the
//! lockout reservation. Its 200 creates the account here (same pk, profile, roomid, date_joined)
//! and logs in; its 401 is the usual 401; an outage, a stall or a malformed answer is 503 with
//! nothing written.

use std::time::Duration;

use api_tests::stand_in::{LegacyServer, Mode};
use api_tests::{unique, TestApi};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};

async fn start() -> (TestApi, LegacyServer) {
    let legacy = LegacyServer::start().await;
    let api = TestApi::with_config(|c| {
        legacy.configure(c);
        c.sns.timeout = Duration::from_millis(500);
    })
    .await;
    (api, legacy)
}

/// An account as the legacy server's login answers it (the seed's own example, renamed).
fn legacy_account(username: &str, pk: u64) -> Value {
    json!({"pk": pk.to_string(), "username": username, "password": "", "login_type": "0", "nickname": "neverluo",
           "sex": "0", "age": "0", "email": "never@gmail.com", "phone": "18752000500",
           "img": "static/mcuser/img/tests1.jpg", "country": "", "province": "", "city": "", "career": "",
           "roomid": "8696", "date_joined": "2016-10-28T02:27:15.211240Z"})
}

async fn login(api: &TestApi, username: &str, password: &str) -> api_tests::Answer {
    api.post("/login/", json!({"username": username, "password": password})).await
}

/// Everything but the lockout counts (the reservation is written before the legacy server is
/// asked, as it must be).
async fn items_but_lockouts(api: &TestApi) -> Vec<String> {
    api.all_items().await.into_iter().filter(|i| !i.contains("S(\"lockout#")).collect()
}

#[tokio::test]
async fn a_legacy_200_creates_the_account_here_and_logs_in() {
    let (api, legacy) = start().await;
    let name = unique("old");
    legacy.add(&name, "old secret!", legacy_account(&name, 4242));

    let a = login(&api, &name, "old secret!").await;
    a.assert_success(200);
    assert_eq!(legacy.requests(), 1);
    for (field, value) in [
        ("pk", "4242"),
        ("roomid", "8696"),
        ("date_joined", "2016-10-28T02:27:15.211240Z"),
        ("nickname", "neverluo"),
        ("email", "never@gmail.com"),
        ("phone", "18752000500"),
        ("password", ""),
    ] {
        assert_eq!(a.body[field], value, "{field}: {}", a.body);
    }
    assert_ne!(a.body["token"], "8ca6dd209e7f780229cdee74ef525dfe", "a token of this backend");
    let me = api.get(&format!("/users/4242/?token={}", a.str("token"))).await;
    me.assert_success(200);
    assert_eq!(me.body["username"], name.as_str());

    // Stored as argon2id of the password; from now on the legacy server is not asked.
    let claim = api
        .ddb()
        .get_item()
        .table_name(&api.ctx.store.tables().users)
        .key("id", AttributeValue::S(format!("username#{name}")))
        .send()
        .await
        .unwrap();
    assert!(claim.item().unwrap()["password_hash"].as_s().unwrap().starts_with("$argon2id$"));
    login(&api, &name, "old secret!").await.assert_success(200);
    login(&api, &name, "wrong").await.assert_fail(401);
    assert_eq!(legacy.requests(), 1, "a username known here never reaches the legacy server");

    // Numbers handed out afterwards are above the migrated account's.
    let fresh = api.register(&unique("new")).await;
    assert!(fresh["pk"].as_str().unwrap().parse::<u64>().unwrap() > 4242, "{fresh}");
    assert!(fresh["roomid"].as_str().unwrap().parse::<u64>().unwrap() > 8696, "{fresh}");
}

#[tokio::test]
async fn a_legacy_401_is_the_usual_401_and_writes_no_account() {
    let (api, legacy) = start().await;
    let name = unique("old");
    legacy.add(&name, "old secret!", legacy_account(&name, 4243));
    let before = items_but_lockouts(&api).await;
    let wrong = login(&api, &name, "not it").await;
    wrong.assert_fail(401);
    let unknown = login(&api, &unique("nobody"), "not it").await;
    unknown.assert_fail(401);
    assert_eq!(wrong.body, unknown.body);
    let registered = api.register(&unique("here")).await;
    let here_wrong = login(&api, registered["username"].as_str().unwrap(), "not it").await;
    assert_eq!(here_wrong.body, wrong.body, "the same 401 as a wrong password here");
    assert_eq!(legacy.requests(), 2);
    let after = items_but_lockouts(&api).await;
    assert!(after.iter().all(|i| !i.contains("user#4243")), "no account written");
    assert!(before.iter().all(|i| after.contains(i)));
}

#[tokio::test]
async fn an_outage_a_stall_or_a_malformed_answer_is_503_and_writes_nothing() {
    let (api, legacy) = start().await;
    let name = unique("old");
    legacy.add(&name, "old secret!", legacy_account(&name, 4244));
    for mode in
        [Mode::ServerError, Mode::Slow(Duration::from_secs(3)), Mode::Html, Mode::TruncatedJson, Mode::CutConnection]
    {
        legacy.set_mode(mode);
        let before = items_but_lockouts(&api).await;
        let started = std::time::Instant::now();
        let a = login(&api, &name, "old secret!").await;
        a.assert_fail(503);
        assert!(started.elapsed() < Duration::from_secs(5), "{mode:?}: answered within 5 s");
        assert_eq!(before, items_but_lockouts(&api).await, "{mode:?} wrote something");
    }
    // An answer in the right shape, but of another account, is not trusted either.
    legacy.set_mode(Mode::Normal);
    let liar = unique("liar");
    legacy.add(&liar, "pw-liar", legacy_account(&unique("somebody_else"), 4245));
    let before = items_but_lockouts(&api).await;
    login(&api, &liar, "pw-liar").await.assert_fail(503);
    assert_eq!(before, items_but_lockouts(&api).await, "another account's answer wrote something");
    // The outages spoiled nothing: it works once the legacy server answers (from another
    // address: each attempt above was counted by the lockout before the legacy server was asked).
    let body = json!({"username": name, "password": "old secret!"});
    api.send_from("198.51.100.7", reqwest::Method::POST, "/login/", Some(body)).await.assert_success(200);
}

#[tokio::test]
async fn the_legacy_server_is_asked_only_within_the_lockout() {
    let legacy = LegacyServer::start().await;
    let api = TestApi::with_config(|c| {
        legacy.configure(c);
        c.lockout.threshold = 3;
        c.lockout.base = Duration::from_secs(60);
    })
    .await;
    let name = unique("old");
    legacy.add(&name, "old secret!", legacy_account(&name, 4246));
    for _ in 0..3 {
        login(&api, &name, "guess").await.assert_fail(401);
    }
    for _ in 0..5 {
        login(&api, &name, "guess").await.assert_fail(429);
    }
    assert_eq!(legacy.requests(), 3, "locked-out attempts never reach the legacy server");

    // Without LEGACY_API_BASE nothing is asked.
    let off = TestApi::start().await;
    login(&off, &name, "old secret!").await.assert_fail(401);
    assert_eq!(legacy.requests(), 3);
}
