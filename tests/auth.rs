//! Token lifetime and revocation over real HTTP.

use std::time::Duration;

use api_tests::{unique, TestApi};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

#[tokio::test]
async fn a_token_works_until_its_ttl_and_not_after() {
    let api = TestApi::with_config(|c| c.token_ttl = Duration::from_secs(4)).await;
    let reg = api.register(&unique("ttl")).await;
    let path = format!("/users/{}/", reg["pk"].as_str().unwrap());
    api.put(&path, json!({"token": reg["token"]})).await.assert_success(200);
    tokio::time::sleep(Duration::from_millis(5100)).await;
    api.put(&path, json!({"token": reg["token"]})).await.assert_fail(401);
    api.post("/logout/", json!({"token": reg["token"]})).await.assert_fail(401);
}

#[tokio::test]
async fn tokens_are_stored_only_as_sha256_with_a_24h_ttl_attribute() {
    let api = TestApi::start().await;
    let reg = api.register(&unique("hash")).await;
    let token = reg["token"].as_str().unwrap();
    let items = api.scan(&api.ctx.store.tables().tokens).await;
    // The token, its session and the session's refresh token (tests/sessions.rs).
    assert_eq!(items.len(), 3);
    let item = items.iter().find(|i| !i["id"].as_s().unwrap().contains('#')).expect("the token item");
    let AttributeValue::S(id) = &item["id"] else { panic!("id") };
    assert_eq!(id, &shared::auth::tokens::hash(token));
    assert!(!format!("{item:?}").contains(token), "plain token stored: {item:?}");
    let AttributeValue::N(expires) = &item["expires_at"] else { panic!("expires_at") };
    let expires: u64 = expires.parse().unwrap();
    let now = shared::clock::now_unix();
    assert!(expires >= now + 86_400 - 60 && expires <= now + 86_400, "expires_at {expires} vs now {now}");
    // And the password is an argon2id PHC string, not a digest.
    let users = api.scan(&api.ctx.store.tables().users).await;
    let hashes: Vec<_> = users.iter().filter_map(|i| i.get("password_hash")).collect();
    assert_eq!(hashes.len(), 1);
    let AttributeValue::S(phc) = hashes[0] else { panic!() };
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
}

#[tokio::test]
async fn logout_kills_only_that_token() {
    let api = TestApi::start().await;
    let name = unique("multi");
    let reg = api.register(&name).await;
    let phone = api.post("/login/", json!({"username": name, "password": "password123"})).await;
    let path = format!("/users/{}/", reg["pk"].as_str().unwrap());
    api.post("/logout/", json!({"token": phone.body["token"]})).await.assert_success(200);
    api.put(&path, json!({"token": phone.body["token"]})).await.assert_fail(401);
    api.put(&path, json!({"token": reg["token"]})).await.assert_success(200);
}

#[tokio::test]
async fn a_revoked_token_cannot_log_out_or_act() {
    let api = TestApi::start().await;
    let name = unique("rev");
    let reg = api.register(&name).await;
    let a = api
        .put(
            "/password/",
            json!({"username": name, "old_password": "password123", "password": "password456", "token": reg["token"]}),
        )
        .await;
    a.assert_success(200);
    api.post("/logout/", json!({"token": reg["token"]})).await.assert_fail(401);
    api.post("/logout/", json!({"token": a.body["token"]})).await.assert_success(200);
}

#[tokio::test]
async fn another_users_token_gets_403_and_changes_nothing() {
    let api = TestApi::start().await;
    let a = api.register(&unique("ta")).await;
    let b = api.register(&unique("tb")).await;
    let before = api.all_items().await;
    let r = api
        .put(&format!("/users/{}/", b["pk"].as_str().unwrap()), json!({"token": a["token"], "nickname": "pwned"}))
        .await;
    r.assert_fail(403);
    assert_eq!(r.body["error"], "forbidden");
    assert_eq!(before, api.all_items().await);
}
