//! Counts the DynamoDB requests each endpoint makes (an SDK interceptor sees every attempt),
//! prints them, and pins them: a new round trip on a hot path should be a decision, not an
//! accident.

use api_tests::recorder::Recorder;
use api_tests::{latest_code, unique, unique_phone, TestApi};
use serde_json::json;

#[tokio::test]
async fn dynamodb_round_trips_per_endpoint() {
    let recorder = Recorder::default();
    let api = recorder.serve(|c| c.sms.resend_interval = std::time::Duration::ZERO).await;

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
    let rotated = api.post("/token/refresh/", json!({"refresh_token": login.str("refresh_token")})).await;
    rotated.assert_success(200);
    calls.push(("token_refresh", recorder.take()));
    api.post("/token/refresh/", json!({"refresh_token": login.str("refresh_token")})).await.assert_success(200);
    calls.push(("token_refresh (retry in grace)", recorder.take()));
    api.post("/logout/", json!({"token": rotated.str("token")})).await.assert_success(200);
    calls.push(("logout (session of 2 tokens)", recorder.take()));

    let (national, e164) = unique_phone();
    api.post("/phonelogin/", json!({"phone": national})).await.assert_success(200);
    calls.push(("phone_captcha", recorder.take()));
    let code = latest_code(&e164).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    api.get(&format!("/phonelogin/?phone={national}&captcha={wrong}")).await.assert_fail(401);
    calls.push(("phone_login (wrong code)", recorder.take()));
    api.get(&format!("/phonelogin/?phone={national}&captcha={code}")).await.assert_success(200);
    calls.push(("phone_login (new account)", recorder.take()));
    api.post("/phonelogin/", json!({"phone": national})).await.assert_success(200);
    recorder.take();
    let code = latest_code(&e164).await;
    api.get(&format!("/phonelogin/?phone={national}&captcha={code}")).await.assert_success(200);
    calls.push(("phone_login", recorder.take()));
    // Account lifecycle (issue 11): own profile, bind, reset, delete with two rooms.
    let (_, e164) = api_tests::unique_phone();
    let login = api.post("/login/", json!({"username": renamed, "password": "password456"})).await;
    let token = login.str("token").to_owned();
    let pk = login.str("pk").to_owned();
    recorder.take();
    api.get(&format!("/users/{pk}/?token={token}")).await.assert_success(200);
    calls.push(("user_info get", recorder.take()));
    let c = fresh_code(&api, &e164, "bind").await;
    recorder.take();
    api.put(&format!("/users/phone/{pk}/"), json!({"token": token, "phone": e164, "captcha": c}))
        .await
        .assert_success(200);
    calls.push(("phone_bind", recorder.take()));
    let c = fresh_code(&api, &e164, "reset").await;
    recorder.take();
    let reset = api.post("/password/reset/", json!({"phone": e164, "captcha": c, "password": "password789"})).await;
    reset.assert_success(200);
    calls.push(("password_reset", recorder.take()));
    let token = reset.str("token").to_owned();
    for active in [true, false] {
        api.post("/rooms/", json!({"room_alias": unique("rt"), "active": active, "token": token}))
            .await
            .assert_success(201);
    }
    recorder.take();
    let del = api
        .send(
            reqwest::Method::DELETE,
            &format!("/users/{pk}/"),
            Some(json!({"token": token, "password": "password789"})),
        )
        .await;
    assert_eq!(del.status, 204, "{}", del.body);
    calls.push(("account_delete (2 rooms)", recorder.take()));

    for (endpoint, ops) in &calls {
        println!("round trips {endpoint:<24} {:>2}: {}", ops.len(), ops.join(", "));
    }
    let count = |e: &str| calls.iter().find(|(n, _)| *n == e).unwrap().1.len();
    // register: two counters (parallel; each reserves a block of ID_BLOCK_SIZE numbers, so the
    // next sign-ups of this server take their numbers from memory) + one transaction. login: the attempt's reservation
    // (one conditional write) beside the credentials read, argon2, then the profile read, the
    // token write and giving the reservation back, in parallel: 2 sequential round trips, 3
    // writes. A wrong password is the reservation and the read: 1 write, as for an unknown name.
    assert_eq!(count("register"), 3);
    assert_eq!(count("login"), 5);
    assert_eq!(count("login (wrong password)"), 2);
    assert_eq!(count("user_info"), 3);
    assert_eq!(calls.iter().find(|(n, _)| *n == "user_info").unwrap().1[2], "PutItem", "no transaction for one item");
    assert_eq!(count("user_info (rename)"), 4);
    assert_eq!(count("user_icon"), 3);
    assert_eq!(count("user_password"), 6);
    // Every authenticated request: the token, then its account and its login session together
    // in one BatchGetItem (issue 29: an ended session's tokens are refused, so the session is
    // read; one request over both tables keeps it at the two sequential round trips the token
    // and the account took before, at one more read unit).
    let auth = &calls.iter().find(|(n, _)| *n == "user_info get").unwrap().1;
    assert_eq!(auth, &["GetItem", "BatchGetItem"], "{auth:?}");
    // logout: authentication, then one transaction that ends the session and deletes its tokens
    // (issue 29: all or nothing, so a failed logout is retried whole; it was 3 and 4 round
    // trips, a deletion first and the session's end after, which could half-fail).
    assert_eq!(count("logout"), 3);
    assert_eq!(count("logout (session of 2 tokens)"), 3);
    // A refresh: the refresh token, then the account and the session in one BatchGetItem, then
    // one transaction (3 round trips, was 4 with two GetItems). A retry inside the grace reads
    // the same and writes nothing. "rooms create": the token, the account, the room pk block (the first
    // creation of this server reserves one; the room number comes from the block the sign-up
    // reserved) and the transaction; once both blocks are in memory, 3.
    assert!(calls
        .iter()
        .find(|(n, _)| *n == "token_refresh")
        .unwrap()
        .1
        .last()
        .unwrap()
        .starts_with("TransactWriteItems"));
    assert_eq!(count("token_refresh"), 3);
    assert_eq!(count("token_refresh (retry in grace)"), 2);
    assert_eq!(count("rooms create"), 4);
    // The list is the count shards in one BatchGetItem beside one Query per index shard, all
    // in parallel (one sequential round trip): never a Scan.
    let list = &calls.iter().find(|(n, _)| *n == "rooms list").unwrap().1;
    let shards = shared::store::rooms::ACTIVE_SHARDS as usize;
    assert_eq!(list.iter().filter(|op| op.as_str() == "Query").count(), shards, "{list:?}");
    assert_eq!(list.iter().filter(|op| op.as_str() == "BatchGetItem").count(), 1, "{list:?}");
    assert_eq!(list.len(), shards + 1, "{list:?}");
    assert_eq!(count("rooms get"), 1);
    assert_eq!(count("rooms update"), 4);
    assert_eq!(count("rooms delete"), 4);
    // A send: the phone's item, then one transaction (3 send counters + the code).
    assert_eq!(count("phone_captcha"), 2);
    // A try is one conditional write, counted before the code is compared.
    assert_eq!(count("phone_login (wrong code)"), 1);
    // The try, the phone claim, then one transaction that creates the account and uses up the
    // code (the account's numbers come from the blocks the sign-up reserved; a server's first
    // account of all adds the two counter writes); for an existing account, the account read
    // and one transaction that writes the token and uses up the code.
    assert_eq!(count("phone_login (new account)"), 3);
    assert_eq!(count("phone_login"), 4);
    // token + (account and session), then the owner check needs nothing more.
    assert_eq!(count("user_info get"), 2);
    // token, account, the try, one transaction (the code's use, account over its version, claim in).
    assert_eq!(count("phone_bind"), 4);
    // the try, phone claim, account, one transaction (account, username claim, token, the
    // code's use), then the lockout item deleted.
    assert_eq!(count("password_reset"), 5);
    // token, account, credentials, the password check under the lockout (reservation beside
    // the credentials read, then the reservation given back), the stored Apple credentials (none
    // here), the tombstone transaction, the owner set, one BatchGetItem + one room transaction,
    // the owner set again and its deletion.
    assert_eq!(count("account_delete (2 rooms)"), 13);
}

async fn fresh_code(api: &TestApi, e164: &str, purpose: &str) -> String {
    api.post("/phonelogin/", json!({"phone": e164, "purpose": purpose})).await.assert_success(200);
    api_tests::latest_code(e164).await
}
