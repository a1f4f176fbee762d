//! POST /snslogin/ against stand-in WeChat, QQ and Weibo servers on 127.0.0.1 and DynamoDB Local:
//! the provider must vouch for the token before any account is found or created; a refusal is
//! 401 and a provider failure 502, neither ever a login nor a write.

use std::time::{Duration, Instant};

use api_tests::stand_in::{Kind, Mode, StandIns};
use api_tests::{assert_user_shape, unique, Method, TestApi};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use local_api::template::Template;
use serde_json::{json, Value};

const ICON: &str = "https://thirdqq.qlogo.cn/g?b=oidb&k=abc123&s=100";

async fn start() -> (TestApi, StandIns) {
    let providers = StandIns::start().await;
    let api = TestApi::with_config(|c| providers.configure(c)).await;
    (api, providers)
}

fn sns_body(kind: Kind, snsid: &str, access_token: &str, username: &str) -> Value {
    json!({
        "login_type": kind.login_type(),
        "snsid": snsid,
        "access_token": access_token,
        "username": username,
        "nickname": "小明",
        "icon": ICON,
        "sex": "0",
        "age": 30,
        "city": "杭州",
    })
}

/// Items of the users table whose key starts with `prefix`.
async fn users_items(api: &TestApi, prefix: &str) -> Vec<api_tests::Item> {
    api.scan(&api.ctx.store.tables().users)
        .await
        .into_iter()
        .filter(|i| matches!(&i["id"], AttributeValue::S(s) if s.starts_with(prefix)))
        .collect()
}

async fn refused_without_writes(api: &TestApi, body: Value, status: u16, error: &str, what: &str) {
    let before = api.all_items().await;
    let a = api.post("/snslogin/", body).await;
    a.assert_fail(status);
    assert_eq!(a.body["error"], error, "{what}: {}", a.body);
    assert_eq!(before, api.all_items().await, "{what} wrote something");
}

/// Valid token: 201 with a new account, then 200 with the same one. Refusals (unknown token,
/// another user's token, another app's token) are 401 and create nothing. Every call asks the
/// provider once.
async fn provider_contract(kind: Kind) {
    let (api, providers) = start().await;
    let provider = providers.get(kind);
    let snsid = kind.subject(1);
    let token = unique("tok");
    provider.grant(&token, &snsid, kind.our_app());
    let name = unique("sns");

    refused_without_writes(
        &api,
        sns_body(kind, &snsid, "not-a-live-token", &name),
        401,
        "sns_auth_failed",
        "unknown token",
    )
    .await;
    // The token is live, but it belongs to someone else: the snsid is not the caller's.
    refused_without_writes(
        &api,
        sns_body(kind, &kind.subject(2), &token, &name),
        401,
        "sns_auth_failed",
        "snsid mismatch",
    )
    .await;
    let mut asked = 2;
    if kind != Kind::WeChat {
        // A live token of the right user, but issued to another app.
        let foreign = unique("foreign");
        provider.grant(&foreign, &snsid, "100000001");
        refused_without_writes(&api, sns_body(kind, &snsid, &foreign, &name), 401, "sns_auth_failed", "other app")
            .await;
        asked += 1;
    }
    assert_eq!(provider.requests(), asked, "each refusal came from the provider");

    let first = api.post("/snslogin/", sns_body(kind, &snsid, &token, &name)).await;
    first.assert_success(201);
    assert_user_shape(&first.body);
    assert_eq!(first.body["msg"], "登录成功");
    assert_eq!(first.body["username"], name.as_str());
    assert_eq!(first.body["login_type"], kind.login_type());
    assert_eq!(first.body["img"], ICON);
    assert_eq!(first.body["nickname"], "小明");
    assert_eq!(first.body["sex"], "0");
    assert_eq!(first.body["age"], "30");
    assert_eq!(first.body["city"], "杭州");
    let pk = first.str("pk").to_owned();

    // Later logins find the account; the request's profile fields do not overwrite it.
    let mut again = sns_body(kind, &snsid, &token, &unique("other"));
    again["nickname"] = json!("改名");
    let second = api.post("/snslogin/", again).await;
    second.assert_success(200);
    assert_user_shape(&second.body);
    assert_eq!(second.body["pk"], pk.as_str());
    assert_eq!(second.body["username"], name.as_str());
    assert_eq!(second.body["nickname"], "小明");
    assert_ne!(second.body["token"], first.body["token"]);
    assert_eq!(provider.requests(), asked + 2, "every login is verified, not only the first");

    // Both tokens are sessions of that account.
    for t in [first.str("token"), second.str("token")] {
        api.put(&format!("/users/{pk}/"), json!({"token": t, "career": "engineer"})).await.assert_success(200);
    }
    // No password: password login to it is refused like a wrong password.
    api.post("/login/", json!({"username": name, "password": "password123"})).await.assert_fail(401);

    assert_eq!(users_items(&api, "user#").await.len(), 1, "one account");
    assert_eq!(users_items(&api, "sns#").await.len(), 1, "one identity claim");
}

#[tokio::test]
async fn wechat_vouches_then_the_same_account_logs_in() {
    provider_contract(Kind::WeChat).await;
}

#[tokio::test]
async fn qq_vouches_then_the_same_account_logs_in() {
    provider_contract(Kind::Qq).await;
}

#[tokio::test]
async fn weibo_vouches_then_the_same_account_logs_in() {
    provider_contract(Kind::Weibo).await;
}

#[tokio::test]
async fn the_other_documented_spellings_are_understood() {
    // QQ's JSONP `callback( {...} );`, Weibo's string uid and `expires_in`.
    let (api, providers) = start().await;
    for kind in [Kind::Qq, Kind::Weibo] {
        let provider = providers.get(kind);
        provider.set_mode(Mode::OtherSpelling);
        let (snsid, token) = (kind.subject(7), unique("tok"));
        provider.grant(&token, &snsid, kind.our_app());
        api.post("/snslogin/", sns_body(kind, &snsid, &token, &unique("u"))).await.assert_success(201);
        api.post("/snslogin/", sns_body(kind, &snsid, "dead-token", &unique("u"))).await.assert_fail(401);
        provider.grant("foreign-token", &snsid, "100000001");
        api.post("/snslogin/", sns_body(kind, &snsid, "foreign-token", &unique("u"))).await.assert_fail(401);
    }
}

#[tokio::test]
async fn a_provider_that_fails_gives_502_and_never_a_login() {
    let providers = StandIns::start().await;
    let timeout = Duration::from_millis(500);
    let api = TestApi::with_config(|c| {
        providers.configure(c);
        c.sns.timeout = timeout;
    })
    .await;
    let failures =
        [Mode::Slow(Duration::from_secs(3)), Mode::Html, Mode::TruncatedJson, Mode::CutConnection, Mode::ServerError];
    for kind in Kind::ALL {
        let provider = providers.get(kind);
        let (snsid, token) = (kind.subject(3), unique("tok"));
        // Granted: whenever the provider does answer properly, this is a valid login.
        provider.grant(&token, &snsid, kind.our_app());
        for mode in failures {
            provider.set_mode(mode);
            let started = Instant::now();
            refused_without_writes(
                &api,
                sns_body(kind, &snsid, &token, &unique("u")),
                502,
                "provider_error",
                &format!("{kind:?} {mode:?}"),
            )
            .await;
            if let Mode::Slow(_) = mode {
                assert!(started.elapsed() < Duration::from_secs(2), "gave up at the deadline: {:?}", started.elapsed());
            }
        }
        assert_eq!(provider.requests(), failures.len());
        // The same request succeeds once the provider is healthy again.
        provider.set_mode(Mode::Normal);
        api.post("/snslogin/", sns_body(kind, &snsid, &token, &unique("u"))).await.assert_success(201);
    }
}

#[tokio::test]
async fn an_unreachable_provider_gives_502() {
    // A port nothing listens on: the connection is refused.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let api = TestApi::with_config(|c| c.sns.wechat_base = base).await;
    let body = sns_body(Kind::WeChat, &Kind::WeChat.subject(1), "some-token", "nobody");
    refused_without_writes(&api, body, 502, "provider_error", "connection refused").await;
}

#[tokio::test]
async fn without_our_app_id_qq_and_weibo_are_not_verified_at_all() {
    let providers = StandIns::start().await;
    let api = TestApi::with_config(|c| {
        providers.configure(c);
        c.sns.qq_app_id.clear();
        c.sns.weibo_app_key.clear();
    })
    .await;
    for kind in [Kind::Qq, Kind::Weibo] {
        let (snsid, token) = (kind.subject(1), unique("tok"));
        providers.get(kind).grant(&token, &snsid, kind.our_app());
        let body = sns_body(kind, &snsid, &token, &unique("u"));
        refused_without_writes(&api, body, 503, "service_unavailable", &format!("{kind:?}")).await;
    }
    assert_eq!(providers.requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_simultaneous_first_logins_make_one_account() {
    let (api, providers) = start().await;
    let kind = Kind::Qq;
    let (snsid, token) = (kind.subject(5), unique("tok"));
    providers.get(kind).grant(&token, &snsid, kind.our_app());
    let name = unique("racer");
    let answers = join_all((0..10).map(|_| api.post("/snslogin/", sns_body(kind, &snsid, &token, &name)))).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 9, "{statuses:?}");
    let pk = answers[0].str("pk");
    for a in &answers {
        assert_user_shape(&a.body);
        assert_eq!(a.str("pk"), pk);
        assert_eq!(a.str("username"), name);
    }
    assert_eq!(users_items(&api, "user#").await.len(), 1, "one account");
    assert_eq!(users_items(&api, "sns#").await.len(), 1, "one identity claim");
    assert_eq!(users_items(&api, "username#").await.len(), 1, "one username claim");
    let tokens = api.scan(&api.ctx.store.tables().tokens).await;
    let sessions = tokens.iter().filter(|i| matches!(&i["id"], AttributeValue::S(s) if s.starts_with("session#")));
    assert_eq!(sessions.count(), 10, "ten sessions");
    assert_eq!(tokens.len(), 30, "each with its token and refresh token");
}

#[tokio::test]
async fn a_taken_username_gets_a_variant_and_the_owner_keeps_it() {
    let (api, providers) = start().await;
    let wish = unique("alice");
    let owner = api.register(&wish).await;
    assert_eq!(owner["pk"], "1");
    let owner_items = users_items(&api, "").await;

    let kind = Kind::WeChat;
    let (snsid, token) = (kind.subject(1), unique("tok"));
    providers.wechat.grant(&token, &snsid, "");
    let a = api.post("/snslogin/", sns_body(kind, &snsid, &token, &wish)).await;
    a.assert_success(201);
    assert_eq!(a.str("pk"), "2");
    assert_eq!(a.str("username"), format!("{wish}_2"));

    // Everything the owner had is as it was; the password still works and is theirs.
    let after = users_items(&api, "").await;
    for item in &owner_items {
        if !matches!(&item["id"], AttributeValue::S(s) if s.starts_with("counter#")) {
            assert!(after.contains(item), "changed: {item:?}");
        }
    }
    let login = api.post("/login/", json!({"username": wish, "password": "password123"})).await;
    login.assert_success(200);
    assert_eq!(login.body["pk"], owner["pk"]);
    // The SNS account has no password, and the owner's password does not open it.
    api.post("/login/", json!({"username": a.str("username"), "password": "password123"})).await.assert_fail(401);

    // When `wish_<pk>` is taken too (pk 4 comes next), a random variant is used.
    api.register(&format!("{wish}_4")).await;
    let (snsid2, token2) = (kind.subject(2), unique("tok"));
    providers.wechat.grant(&token2, &snsid2, "");
    let b = api.post("/snslogin/", sns_body(kind, &snsid2, &token2, &wish)).await;
    b.assert_success(201);
    assert_eq!(b.str("pk"), "4");
    let name = b.str("username");
    assert!(
        name.starts_with(&format!("{wish}_")) && name != format!("{wish}_4") && name != format!("{wish}_2"),
        "{name}"
    );
    assert_eq!(users_items(&api, "username#").await.len(), 4, "one claim per account");
}

#[tokio::test]
async fn with_verification_switched_off_the_provider_is_not_asked() {
    // The local-development switch (SNS_VERIFY=off): snsid trusted as sent.
    let providers = StandIns::start().await;
    let api = TestApi::with_config(|c| {
        providers.configure(c);
        c.sns.verify = false;
    })
    .await;
    let kind = Kind::Weibo;
    api.post("/snslogin/", sns_body(kind, &kind.subject(1), "anything", &unique("dev"))).await.assert_success(201);
    assert_eq!(providers.requests(), 0);
}

#[test]
fn the_deployed_template_always_verifies() {
    let template = Template::load(&Template::default_path()).unwrap();
    let (_, function) = template
        .resources_of_type("AWS::Serverless::Function")
        .find(|(_, f)| f["Properties"]["CodeUri"] == "functions/sns_login")
        .expect("SnsLogin function");
    let env = &function["Properties"]["Environment"]["Variables"];
    assert_eq!(env["SNS_VERIFY"], "on", "a literal, not a parameter");
    assert!(template.root()["Globals"]["Function"]["Environment"]["Variables"].get("SNS_VERIFY").is_none());
    for (var, param) in
        [("WECHAT_API_BASE", "WeChatApiBase"), ("QQ_API_BASE", "QqApiBase"), ("WEIBO_API_BASE", "WeiboApiBase")]
    {
        assert_eq!(env[var]["Ref"], param);
        let p = &template.root()["Parameters"][param];
        assert!(p["Default"].as_str().unwrap().starts_with("https://"), "{param}");
        assert!(p["AllowedPattern"].as_str().unwrap().starts_with("https://"), "{param}: only https in a deployment");
    }
}

#[tokio::test]
async fn bad_input_is_refused_before_any_provider_call_or_write() {
    let (api, providers) = start().await;
    let kind = Kind::WeChat;
    let (snsid, token) = (kind.subject(1), unique("tok"));
    // The base body is valid with a live token: only the one bad field keeps each case from
    // reaching the provider and logging in.
    providers.wechat.grant(&token, &snsid, "");
    let base = sns_body(kind, &snsid, &token, &unique("bad"));
    let with = |changes: Value| {
        let mut body = base.clone();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body.to_string().into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("login_type 0", with(json!({"login_type": "0"})), 400, "invalid_login_type"),
        ("login_type 5", with(json!({"login_type": "5"})), 400, "invalid_login_type"),
        ("login_type x", with(json!({"login_type": "x"})), 400, "invalid_login_type"),
        ("login_type object", with(json!({"login_type": {"v": 1}})), 400, "invalid_login_type"),
        ("missing login_type", with(json!({"login_type": null})), 400, "missing_login_type"),
        ("missing snsid", with(json!({"snsid": null})), 400, "missing_snsid"),
        ("empty snsid", with(json!({"snsid": ""})), 400, "invalid_snsid"),
        ("snsid path", with(json!({"snsid": "../user#1"})), 400, "invalid_snsid"),
        ("snsid 200 chars", with(json!({"snsid": "o".repeat(200)})), 400, "invalid_snsid"),
        ("snsid NUL", with(json!({"snsid": "o\u{0}x"})), 400, "invalid_snsid"),
        ("missing access_token", with(json!({"access_token": null})), 400, "missing_access_token"),
        ("empty access_token", with(json!({"access_token": ""})), 400, "invalid_access_token"),
        ("access_token with space", with(json!({"access_token": "a b"})), 400, "invalid_access_token"),
        ("access_token array", with(json!({"access_token": [token]})), 400, "invalid_access_token"),
        ("missing username", with(json!({"username": null})), 400, "missing_username"),
        ("username with space", with(json!({"username": "a b"})), 400, "invalid_username"),
        ("missing nickname", with(json!({"nickname": null})), 400, "missing_nickname"),
        ("10 kB nickname", with(json!({"nickname": "n".repeat(10 * 1024)})), 400, "invalid_nickname"),
        ("missing icon", with(json!({"icon": null})), 400, "missing_icon"),
        ("icon javascript:", with(json!({"icon": "javascript:alert(1)"})), 400, "invalid_icon"),
        ("icon ftp", with(json!({"icon": "ftp://cdn.example.com/a.png"})), 400, "invalid_icon"),
        ("sex 7", with(json!({"sex": "7"})), 400, "invalid_sex"),
        ("bad email", with(json!({"email": "not-an-email"})), 400, "invalid_email"),
        ("malformed JSON", br#"{"login_type": "1", "snsid": "#.to_vec(), 400, "malformed_body"),
        ("array body", b"[1,2,3]".to_vec(), 400, "malformed_body"),
        ("100 kB body", with(json!({"career": "c".repeat(100 * 1024)})), 413, "body_too_large"),
    ];
    assert!(cases.len() >= 12);

    let before = api.all_items().await;
    for (name, body, status, error) in &cases {
        let a = api.send_raw(Method::POST, "/snslogin/", Some(body.clone()), &[]).await;
        a.assert_fail(*status);
        assert_eq!(a.body["error"], *error, "{name}: {}", a.body);
        assert_eq!(before, api.all_items().await, "{name} wrote something");
        assert_eq!(providers.requests(), 0, "{name} reached a provider");
    }
    // The base body itself is fine: the cases failed for their one bad field.
    api.post("/snslogin/", base).await.assert_success(201);
    assert_eq!(providers.requests(), 1);
}
