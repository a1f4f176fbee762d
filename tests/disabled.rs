//! A disabled account over real HTTP (API.md "Your sessions, your activity, your data"): its
//! tokens and refresh tokens get 403 `account_disabled` at once; a login by password, SMS or a
//! third party with the right credentials gets 403 and opens no session; wrong credentials get
//! the usual 401 (disabling tells nothing to someone without the password); enabling restores.

use api_tests::stand_in::{Kind, StandIns};
use api_tests::{latest_code, unique, unique_phone, Answer, Method, TestApi};
use serde_json::{json, Value};

/// What an operator does (tools/admin calls the same store function).
async fn set_disabled(api: &TestApi, pk: &str, disabled: bool) {
    let pk: u64 = pk.parse().unwrap();
    let user = api.ctx.store.get_user(pk).await.unwrap().expect("account exists");
    api.ctx.store.set_disabled(&user, disabled.then_some(1_700_000_000)).await.unwrap();
}

fn assert_disabled(a: &Answer, what: &str) {
    assert_eq!(a.status, 403, "{what}: {}", a.body);
    assert_eq!(a.body["error"], "account_disabled", "{what}: {}", a.body);
}

fn s(body: &Value, field: &str) -> String {
    body[field].as_str().unwrap_or_else(|| panic!("{field} missing in {body}")).to_owned()
}

/// Login sessions in the token table: a refused login must open none.
async fn token_items(api: &TestApi) -> usize {
    let items = api.scan(&api.ctx.store.tables().tokens).await;
    items.iter().filter(|i| i["id"].as_s().is_ok_and(|id| id.starts_with("session#"))).count()
}

#[tokio::test]
async fn a_disabled_account_is_refused_with_the_right_password_only_and_enabling_restores_it() {
    let api = TestApi::start().await;
    let name = unique("dis");
    api.register(&name).await;
    let login = api.post("/login/", json!({"username": name, "password": "password123"})).await;
    login.assert_success(200);
    let (pk, token, refresh) = (s(&login.body, "pk"), s(&login.body, "token"), s(&login.body, "refresh_token"));

    set_disabled(&api, &pk, true).await;
    let profile = api.put(&format!("/users/{pk}/"), json!({"token": token, "nickname": "x"})).await;
    assert_disabled(&profile, "token of a disabled account");
    let rooms = api.post("/rooms/", json!({"token": token, "room_alias": unique("r")})).await;
    assert_disabled(&rooms, "another authenticated route");
    assert_disabled(&api.post("/token/refresh/", json!({"refresh_token": refresh})).await, "refresh token");

    let before = token_items(&api).await;
    let right = api.post("/login/", json!({"username": name, "password": "password123"})).await;
    assert_disabled(&right, "login with the right password");
    assert_eq!(token_items(&api).await, before, "a refused login opened a session");
    let wrong = api.post("/login/", json!({"username": name, "password": "wrong-password"})).await;
    wrong.assert_fail(401);
    assert_eq!(wrong.body["error"], "invalid_credentials", "{}", wrong.body);

    set_disabled(&api, &pk, false).await;
    api.put(&format!("/users/{pk}/"), json!({"token": token, "nickname": "y"})).await.assert_success(200);
    api.post("/token/refresh/", json!({"refresh_token": refresh})).await.assert_success(200);
    api.post("/login/", json!({"username": name, "password": "password123"})).await.assert_success(200);
}

#[tokio::test]
async fn an_sms_login_into_a_disabled_account_is_refused_with_the_right_code_only() {
    let api = TestApi::with_config(|c| c.sms.resend_interval = std::time::Duration::ZERO).await;
    let (national, e164) = unique_phone();
    api.post("/phonelogin/", json!({"phone": national})).await.assert_success(200);
    let code = latest_code(&e164).await;
    let first = api.get(&format!("/phonelogin/?phone={national}&captcha={code}")).await;
    assert!(first.status == 200 || first.status == 201, "{}", first.body);
    let pk = s(&first.body, "pk");

    set_disabled(&api, &pk, true).await;
    api.post("/phonelogin/", json!({"phone": national})).await.assert_success(200);
    let code = latest_code(&e164).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    api.get(&format!("/phonelogin/?phone={national}&captcha={wrong}")).await.assert_fail(401);
    let before = token_items(&api).await;
    let right = api.get(&format!("/phonelogin/?phone={national}&captcha={code}")).await;
    assert_disabled(&right, "SMS login with the right code");
    assert_eq!(token_items(&api).await, before, "a refused login opened a session");
    // A password reset is a login too: no token, and no new password.
    api.post("/phonelogin/", json!({"phone": national, "purpose": "reset"})).await.assert_success(200);
    let reset_code = latest_code(&e164).await;
    let reset = json!({"phone": national, "captcha": reset_code, "password": "password789"});
    assert_disabled(&api.post("/password/reset/", reset).await, "password reset");
    assert_eq!(token_items(&api).await, before, "a refused reset opened a session");

    set_disabled(&api, &pk, false).await;
    let again = api.get(&format!("/phonelogin/?phone={national}&captcha={code}")).await;
    again.assert_success(200);
    assert_eq!(s(&again.body, "pk"), pk);
}

#[tokio::test]
async fn a_third_party_login_into_a_disabled_account_is_refused() {
    let providers = StandIns::start().await;
    let api = TestApi::with_config(|c| {
        providers.configure(c);
        c.sns.verify = false;
    })
    .await;
    let kind = Kind::Weibo;
    let snsid = kind.subject(1);
    let body = json!({"login_type": kind.login_type(), "snsid": snsid, "access_token": "t", "username": unique("sd"), "nickname": "n", "icon": "https://thirdqq.qlogo.cn/g?b=oidb&k=a&s=100"});
    let first = api.post("/snslogin/", body.clone()).await;
    first.assert_success(201);
    let pk = s(&first.body, "pk");

    set_disabled(&api, &pk, true).await;
    let before = token_items(&api).await;
    assert_disabled(&api.post("/snslogin/", body.clone()).await, "third-party login");
    assert_eq!(token_items(&api).await, before, "a refused login opened a session");
    set_disabled(&api, &pk, false).await;
    api.post("/snslogin/", body).await.assert_success(200);
}

#[tokio::test]
async fn every_authenticated_route_refuses_a_disabled_accounts_token() {
    let api = TestApi::start().await;
    let name = unique("dis");
    api.register(&name).await;
    let login = api.post("/login/", json!({"username": name, "password": "password123"})).await;
    let (pk, token) = (s(&login.body, "pk"), s(&login.body, "token"));
    let room = api.post("/rooms/", json!({"token": token, "room_alias": unique("r")})).await;
    room.assert_success(201);
    let room = s(&room.body, "pk");
    set_disabled(&api, &pk, true).await;

    let (national, _) = unique_phone();
    let calls = [
        (Method::GET, format!("/users/{pk}/?token={token}"), None),
        (Method::PUT, format!("/users/{pk}/"), Some(json!({"nickname": "x"}))),
        (Method::DELETE, format!("/users/{pk}/"), Some(json!({"password": "password123"}))),
        (Method::PUT, format!("/users/icon/{pk}/"), Some(json!({"icon": "https://example.com/a.png"}))),
        (Method::PUT, format!("/users/phone/{pk}/"), Some(json!({"phone": national, "captcha": "123456"}))),
        (
            Method::PUT,
            "/users/password/".to_owned(),
            Some(json!({"username": name, "old_password": "password123", "password": "password456"})),
        ),
        (Method::POST, "/rooms/".to_owned(), Some(json!({"room_alias": unique("r")}))),
        (Method::PUT, format!("/rooms/{room}/"), Some(json!({"active": true}))),
        (Method::DELETE, format!("/rooms/{room}/"), Some(json!({}))),
        (Method::POST, "/logout/".to_owned(), Some(json!({}))),
    ];
    for (method, path, body) in calls {
        let what = format!("{method} {path}");
        let body = body.map(|mut b| {
            b["token"] = json!(token);
            b
        });
        assert_disabled(&api.send(method, &path, body).await, &what);
    }
}
