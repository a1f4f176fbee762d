//! The contract of API.md rows 1, 3, 4, 6, 7, 8 over real HTTP: statuses, envelopes, field
//! types, both path spellings, OPTIONS.

use api_tests::{assert_user_shape, unique, Method, TestApi};
use serde_json::json;

#[tokio::test]
async fn register_returns_the_user_and_a_working_token_on_both_paths() {
    let api = TestApi::start().await;
    for path in ["/users/", "/users"] {
        let name = unique("reg");
        let a = api
            .post(path, json!({"username": name, "password": "password123", "nickname": "Nick", "sex": 1, "age": 25,
                "email": "n@example.com", "phone": "18752000500", "country": "中国", "province": "江苏", "city": "南京", "career": "dev"}))
            .await;
        a.assert_success(200);
        assert_eq!(a.body["msg"], "创建成功");
        assert_user_shape(&a.body);
        assert_eq!(a.body["username"], name.as_str());
        assert_eq!(a.body["sex"], "1");
        assert_eq!(a.body["age"], "25");
        assert_eq!(a.body["login_type"], "0");
        assert_eq!(a.body["city"], "南京");
        assert!(a.headers["content-type"].to_str().unwrap().starts_with("application/json"));
        // The token works at once (no GSI read after the write).
        let pk = a.str("pk");
        let info = api.put(&format!("/users/{pk}/"), json!({"token": a.str("token"), "career": "qa"})).await;
        info.assert_success(200);
    }
}

#[tokio::test]
async fn register_refuses_a_taken_username_and_missing_fields() {
    let api = TestApi::start().await;
    let name = unique("dup");
    api.register(&name).await;
    let a = api.post("/users/", json!({"username": name, "password": "password123", "nickname": "n"})).await;
    a.assert_fail(409);
    assert_eq!(a.body["error"], "username_taken");
    let a = api.post("/users/", json!({"username": unique("x"), "password": "password123"})).await;
    a.assert_fail(400);
    assert_eq!(a.body["field"], "nickname");
    let a = api.post("/users/", json!({"username": unique("x"), "password": "short", "nickname": "n"})).await;
    a.assert_fail(400);
    assert_eq!(a.body["field"], "password");
}

#[tokio::test]
async fn pks_and_room_numbers_are_never_shared() {
    // The contract promises unique, never reused numbers, not consecutive ones.
    let api = TestApi::start().await;
    let mut pks = std::collections::HashSet::new();
    let mut roomids = std::collections::HashSet::new();
    for _ in 0..5 {
        let user = api.register(&unique("s")).await;
        let pk: u64 = user["pk"].as_str().unwrap().parse().unwrap();
        assert!(pk > 0);
        assert!(pks.insert(pk), "pk {pk} given twice");
        assert!(roomids.insert(user["roomid"].as_str().unwrap().to_owned()), "roomid given twice: {user}");
    }
}

#[tokio::test]
async fn login_gives_a_new_token_and_one_401_for_every_wrong_credential() {
    let api = TestApi::start().await;
    let name = unique("login");
    let reg = api.register(&name).await;
    for path in ["/login/", "/login"] {
        let a = api.post(path, json!({"username": name, "password": "password123"})).await;
        a.assert_success(200);
        assert_eq!(a.body["msg"], "登录成功");
        assert_user_shape(&a.body);
        assert_eq!(a.body["pk"], reg["pk"]);
        assert_ne!(a.body["token"], reg["token"], "every login issues a new token");
    }
    let wrong = api.post("/login/", json!({"username": name, "password": "password124"})).await;
    wrong.assert_fail(401);
    let unknown = api.post("/login/", json!({"username": unique("nobody"), "password": "password123"})).await;
    unknown.assert_fail(401);
    assert_eq!(wrong.body, unknown.body, "an unknown user and a wrong password look the same");
    // Older tokens stay valid (several devices).
    let info = api.put(&format!("/users/{}/", reg["pk"].as_str().unwrap()), json!({"token": reg["token"]})).await;
    info.assert_success(200);
}

#[tokio::test]
async fn logout_kills_the_token_and_refuses_unknown_ones() {
    let api = TestApi::start().await;
    let reg = api.register(&unique("out")).await;
    let token = reg["token"].as_str().unwrap();
    for path in ["/logout/", "/logout"] {
        let second = api.post("/login/", json!({"username": reg["username"], "password": "password123"})).await;
        let t = second.str("token").to_owned();
        let a = api.post(path, json!({"token": t})).await;
        a.assert_success(200);
        assert_eq!(a.body.as_object().unwrap().len(), 3, "status, code, msg: {}", a.body);
        api.post(path, json!({"token": t})).await.assert_fail(401);
    }
    api.post("/logout/", json!({})).await.assert_fail(401);
    api.post("/logout/", json!({"token": "0123456789abcdef0123456789abcdef"})).await.assert_fail(401);
    // The first token was never logged out.
    api.put(&format!("/users/{}/", reg["pk"].as_str().unwrap()), json!({"token": token})).await.assert_success(200);
}

#[tokio::test]
async fn user_info_updates_fields_and_renames_with_uniqueness() {
    let api = TestApi::start().await;
    let reg = api.register(&unique("info")).await;
    let other = api.register(&unique("other")).await;
    let pk = reg["pk"].as_str().unwrap();
    let token = reg["token"].as_str().unwrap();

    for path in [format!("/users/{pk}/"), format!("/users/{pk}")] {
        let a = api.put(&path, json!({"token": token, "nickname": "新昵称", "age": "30", "sex": "0"})).await;
        a.assert_success(200);
        assert_eq!(a.body["msg"], "修改成功");
        assert_user_shape(&a.body);
        assert_eq!(a.body["nickname"], "新昵称");
        assert_eq!(a.body["age"], "30");
        assert_eq!(a.body["token"], token);
    }

    let taken = api.put(&format!("/users/{pk}/"), json!({"token": token, "username": other["username"]})).await;
    taken.assert_fail(409);

    let new_name = unique("renamed");
    let a = api.put(&format!("/users/{pk}/"), json!({"token": token, "username": new_name})).await;
    a.assert_success(200);
    assert_eq!(a.body["username"], new_name.as_str());
    api.post("/login/", json!({"username": new_name, "password": "password123"})).await.assert_success(200);
    api.post("/login/", json!({"username": reg["username"], "password": "password123"})).await.assert_fail(401);
    // The old name is free again.
    api.register(reg["username"].as_str().unwrap()).await;

    // Token in the Authorization header or the query string works too.
    let auth = format!("Token {token}");
    let a = api
        .send_raw(Method::PUT, &format!("/users/{pk}/"), Some(br#"{"city":"x"}"#.to_vec()), &[("authorization", &auth)])
        .await;
    a.assert_success(200);
    api.put(&format!("/users/{pk}/?token={token}"), json!({"city": "y"})).await.assert_success(200);
}

#[tokio::test]
async fn user_info_and_icon_refuse_other_users_and_unknown_pks() {
    let api = TestApi::start().await;
    let a = api.register(&unique("a")).await;
    let b = api.register(&unique("b")).await;
    let b_pk = b["pk"].as_str().unwrap();
    for path in [format!("/users/{b_pk}/"), format!("/users/icon/{b_pk}/")] {
        let r =
            api.put(&path, json!({"token": a["token"], "nickname": "hijack", "icon": "https://x.example/a.png"})).await;
        r.assert_fail(403);
        let r = api.put(&path, json!({"nickname": "anon", "icon": "https://x.example/a.png"})).await;
        r.assert_fail(401);
    }
    for path in ["/users/99999999/", "/users/icon/99999999/"] {
        api.put(path, json!({"token": a["token"], "nickname": "x", "icon": "https://x.example/a.png"}))
            .await
            .assert_fail(404);
    }
    let login = api.post("/login/", json!({"username": b["username"], "password": "password123"})).await;
    assert_eq!(login.body["nickname"], "nick", "b untouched");
    assert_eq!(login.body["img"], "");
}

#[tokio::test]
async fn user_icon_sets_img_on_both_paths() {
    let api = TestApi::start().await;
    let reg = api.register(&unique("icon")).await;
    let pk = reg["pk"].as_str().unwrap();
    for (i, path) in [format!("/users/icon/{pk}/"), format!("/users/icon/{pk}")].iter().enumerate() {
        let url = format!("https://cdn.example.com/u/{i}.png");
        let a = api.put(path, json!({"token": reg["token"], "icon": url})).await;
        a.assert_success(200);
        assert_user_shape(&a.body);
        assert_eq!(a.body["img"], url.as_str());
    }
    let bad =
        api.put(&format!("/users/icon/{pk}/"), json!({"token": reg["token"], "icon": "javascript:alert(1)"})).await;
    bad.assert_fail(400);
    assert_eq!(bad.body["field"], "icon");
}

#[tokio::test]
async fn password_change_returns_a_new_token_and_revokes_the_old_ones() {
    let api = TestApi::start().await;
    for (i, path) in ["/password/", "/password", "/users/password/", "/users/password"].iter().enumerate() {
        let name = unique("pw");
        let reg = api.register(&name).await;
        let pk = reg["pk"].as_str().unwrap();
        let other_device = api.post("/login/", json!({"username": name, "password": "password123"})).await;
        let new_pw = format!("new-password-{i}");
        let a = api
            .put(
                path,
                json!({"username": name, "old_password": "password123", "password": new_pw, "token": reg["token"]}),
            )
            .await;
        a.assert_success(200);
        assert_user_shape(&a.body);
        let new_token = a.str("token");
        for old in [&reg["token"], &other_device.body["token"]] {
            api.put(&format!("/users/{pk}/"), json!({"token": old})).await.assert_fail(401);
        }
        api.put(&format!("/users/{pk}/"), json!({"token": new_token})).await.assert_success(200);
        api.post("/login/", json!({"username": name, "password": "password123"})).await.assert_fail(401);
        api.post("/login/", json!({"username": name, "password": new_pw})).await.assert_success(200);
    }
}

#[tokio::test]
async fn password_change_refusals() {
    let api = TestApi::start().await;
    let a = api.register(&unique("pwa")).await;
    let b = api.register(&unique("pwb")).await;
    let wrong_old = api
        .put("/password/", json!({"username": a["username"], "old_password": "nope-nope", "password": "brand-new-1", "token": a["token"]}))
        .await;
    wrong_old.assert_fail(401);
    let not_yours = api
        .put("/password/", json!({"username": b["username"], "old_password": "password123", "password": "brand-new-1", "token": a["token"]}))
        .await;
    not_yours.assert_fail(403);
    let no_token = api
        .put("/password/", json!({"username": a["username"], "old_password": "password123", "password": "brand-new-1"}))
        .await;
    no_token.assert_fail(401);
    let too_short = api
        .put(
            "/password/",
            json!({"username": a["username"], "old_password": "password123", "password": "short", "token": a["token"]}),
        )
        .await;
    too_short.assert_fail(400);
    // Nothing changed: both still log in with the original password.
    for u in [&a, &b] {
        api.post("/login/", json!({"username": u["username"], "password": "password123"})).await.assert_success(200);
    }
}

#[tokio::test]
async fn options_answers_every_path_with_allow_and_cors() {
    let api = TestApi::start().await;
    for (path, allow) in [
        ("/users/", "POST"),
        ("/users", "POST"),
        ("/login/", "POST"),
        ("/logout/", "POST"),
        ("/users/1/", "PUT"),
        ("/users/icon/1/", "PUT"),
        ("/password/", "PUT"),
        ("/users/password/", "PUT"),
    ] {
        let a = api.send(Method::OPTIONS, path, None).await;
        assert!(a.status == 204 || a.status == 200, "{path}: {}", a.status);
        let allowed = a.headers["allow"].to_str().unwrap();
        assert!(allowed.contains(allow) && allowed.contains("OPTIONS"), "{path}: {allowed}");
        assert_eq!(a.headers["access-control-allow-origin"], "*");
        assert!(a.headers["access-control-allow-headers"].to_str().unwrap().contains("Authorization"));
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_get_the_route_not_found_envelope() {
    // API Gateway answers an unknown method like an unknown path (tests/gateway_responses.rs).
    let api = TestApi::start().await;
    for a in [api.get("/nowhere/").await, api.get("/users/").await] {
        a.assert_fail(404);
        assert_eq!(a.body["error"], "route_not_found");
    }
}
