//! Counts the DynamoDB requests each endpoint makes (an SDK interceptor sees every attempt),
//! prints them, and pins them: a new round trip on a hot path should be a decision, not an
//! accident.

use api_tests::recorder::Recorder;
use api_tests::unique;
use serde_json::json;

#[tokio::test]
async fn dynamodb_round_trips_per_endpoint() {
    let recorder = Recorder::default();
    let api = recorder.serve(|_| {}).await;

    let name = unique("rt");
    let mut calls = Vec::new();
    let reg = api.register(&name).await;
    calls.push(("register", recorder.take()));
    let token = reg["token"].as_str().unwrap().to_owned();
    let pk = reg["pk"].as_str().unwrap().to_owned();
    api.post("/login/", json!({"username": name, "password": "password123"})).await.assert_success(200);
    calls.push(("login", recorder.take()));
    api.put(&format!("/users/{pk}/"), json!({"token": token, "city": "x"})).await.assert_success(200);
    calls.push(("user_info", recorder.take()));
    let renamed = unique("rt");
    api.put(&format!("/users/{pk}/"), json!({"token": token, "username": renamed})).await.assert_success(200);
    calls.push(("user_info (rename)", recorder.take()));
    api.put(&format!("/users/icon/{pk}/"), json!({"token": token, "icon": "https://a.example/i.png"}))
        .await
        .assert_success(200);
    calls.push(("user_icon", recorder.take()));
    let pw = api
        .put(
            "/password/",
            json!({"username": renamed, "old_password": "password123", "password": "password456", "token": token}),
        )
        .await;
    pw.assert_success(200);
    calls.push(("user_password", recorder.take()));
    api.post("/logout/", json!({"token": pw.body["token"]})).await.assert_success(200);
    calls.push(("logout", recorder.take()));
    api.post("/login/", json!({"username": renamed, "password": "wrong-password"})).await.assert_fail(401);
    calls.push(("login (wrong password)", recorder.take()));

    let login = api.post("/login/", json!({"username": renamed, "password": "password456"})).await;
    let token = login.str("token").to_owned();
    recorder.take();
    let room = api.post("/rooms/", json!({"room_alias": unique("rt"), "active": true, "token": token})).await;
    room.assert_success(201);
    calls.push(("rooms create", recorder.take()));
    let room_pk = room.str("pk").to_owned();
    api.get("/rooms/?page=1").await.assert_success(200);
    calls.push(("rooms list", recorder.take()));
    api.get(&format!("/rooms/{room_pk}/")).await.assert_success(200);
    calls.push(("rooms get", recorder.take()));
    api.put(&format!("/rooms/{room_pk}/"), json!({"active": false, "token": token})).await.assert_success(200);
    calls.push(("rooms update", recorder.take()));
    let del = api.send_raw(reqwest::Method::DELETE, &format!("/rooms/{room_pk}/?token={token}"), None, &[]).await;
    assert_eq!(del.status, 204);
    calls.push(("rooms delete", recorder.take()));

    for (endpoint, ops) in &calls {
        println!("round trips {endpoint:<24} {:>2}: {}", ops.len(), ops.join(", "));
    }
    let count = |e: &str| calls.iter().find(|(n, _)| *n == e).unwrap().1.len();
    // register: two counters (parallel) + one transaction; login: credentials, then the
    // profile read and the token write in parallel (2 sequential round trips).
    assert_eq!(count("register"), 3);
    assert_eq!(count("login"), 3);
    assert_eq!(count("user_info"), 3);
    assert_eq!(calls.iter().find(|(n, _)| *n == "user_info").unwrap().1[2], "PutItem", "no transaction for one item");
    assert_eq!(count("user_info (rename)"), 4);
    assert_eq!(count("user_icon"), 3);
    assert_eq!(count("user_password"), 4);
    assert_eq!(count("logout"), 2);
    assert_eq!(count("rooms create"), 5);
    // The list is the active count plus one Query of the sparse index: never a Scan.
    let list = &calls.iter().find(|(n, _)| *n == "rooms list").unwrap().1;
    assert_eq!(list.iter().filter(|op| op.as_str() == "Query").count(), 1, "{list:?}");
    assert!(!list.iter().any(|op| op == "Scan"), "{list:?}");
    assert_eq!(count("rooms get"), 1);
    assert_eq!(count("rooms update"), 4);
    assert_eq!(count("rooms delete"), 4);
}
