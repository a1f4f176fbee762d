//! A damaged item (a manual edit, a half-migrated record) fails loudly: 503 `corrupt_item`,
//! with the key in the log, instead of being read as user 0, epoch 0 or owner 0 and served.

use api_tests::*;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

/// Removes `attribute` from the item `id` of `table`, as a careless manual edit would.
async fn damage(api: &TestApi, table: &str, id: &str, attribute: &str) {
    api.ddb()
        .update_item()
        .table_name(table)
        .key("id", AttributeValue::S(id.to_owned()))
        .update_expression("REMOVE #a")
        .expression_attribute_names("#a", attribute)
        .condition_expression("attribute_exists(#a)")
        .send()
        .await
        .expect("the attribute was there to remove");
}

#[track_caller]
fn assert_corrupt(answer: &Answer) {
    answer.assert_fail(503);
    assert_eq!(answer.body["error"], "corrupt_item", "{}", answer.body);
    assert_eq!(answer.headers.get("retry-after").map(|v| v.to_str().unwrap()), Some("2"), "like every 503");
}

async fn registered(api: &TestApi) -> (String, String, String) {
    let body = api.register(&unique("corrupt")).await;
    (
        body["pk"].as_str().unwrap().to_owned(),
        body["token"].as_str().unwrap().to_owned(),
        body["username"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn an_account_without_pk_is_not_served_as_user_zero() {
    let api = TestApi::start().await;
    let (pk, token, _) = registered(&api).await;
    let users = api.ctx.store.tables().users.clone();
    damage(&api, &users, &format!("user#{pk}"), "pk").await;
    assert_corrupt(&api.get(&format!("/users/{pk}/?token={token}")).await);
    assert_corrupt(&api.put(&format!("/users/{pk}/"), json!({"token": token, "nickname": "x"})).await);
}

#[tokio::test]
async fn an_account_without_token_epoch_does_not_accept_epoch_zero_tokens() {
    let api = TestApi::start().await;
    let (pk, token, _) = registered(&api).await;
    let users = api.ctx.store.tables().users.clone();
    damage(&api, &users, &format!("user#{pk}"), "token_epoch").await;
    assert_corrupt(&api.get(&format!("/users/{pk}/?token={token}")).await);
}

#[tokio::test]
async fn credentials_without_token_epoch_issue_no_token() {
    let api = TestApi::start().await;
    let (_, _, username) = registered(&api).await;
    let users = api.ctx.store.tables().users.clone();
    damage(&api, &users, &format!("username#{username}"), "token_epoch").await;
    assert_corrupt(&api.post("/login/", json!({"username": username, "password": "password123"})).await);
}

#[tokio::test]
async fn a_room_without_owner_is_nobody_s_and_not_listed_as_is() {
    let api = TestApi::start().await;
    let (_, token, _) = registered(&api).await;
    let created = api.post("/rooms/", json!({"token": token, "room_alias": unique("a"), "active": true})).await;
    created.assert_success(201);
    let room = created.body["pk"].as_str().unwrap().to_owned();
    let rooms = api.ctx.store.tables().rooms.clone();
    damage(&api, &rooms, &format!("room#{room}"), "owner_pk").await;
    assert_corrupt(&api.put(&format!("/rooms/{room}/"), json!({"token": token, "active": false})).await);
    assert_corrupt(&api.get("/rooms/?page=1&pageSize=30").await);
}
