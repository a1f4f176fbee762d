//! Rooms over real HTTP: contract, pagination over a sparse active index, uniqueness races,
//! owner-only changes, bad input.

use std::collections::BTreeSet;

use api_tests::{unique, Method, TestApi};
use futures::future::join_all;
use serde_json::{json, Value};

async fn owner(api: &TestApi) -> (String, String) {
    let u = api.register(&unique("owner")).await;
    (u["token"].as_str().unwrap().to_owned(), u["roomid"].as_str().unwrap().to_owned())
}

#[track_caller]
fn assert_room_shape(body: &Value) {
    for field in ["pk", "roomid", "room_alias"] {
        assert!(body[field].is_string(), "{field} must be a string in {body}");
    }
    assert!(body["active"].is_boolean(), "active must be a boolean in {body}");
}

#[tokio::test]
async fn every_method_with_and_without_trailing_slash() {
    let api = TestApi::start().await;
    let (token, _) = owner(&api).await;
    for slash in ["/", ""] {
        let alias = unique("alias");
        let created =
            api.post(&format!("/rooms{slash}"), json!({"room_alias": alias, "active": true, "token": token})).await;
        created.assert_success(201);
        assert_room_shape(&created.body);
        assert_eq!(created.body["room_alias"], alias.as_str());
        assert_eq!(created.body["active"], true);
        let pk = created.str("pk").to_owned();

        let got = api.get(&format!("/rooms/{pk}{slash}")).await;
        got.assert_success(200);
        assert_room_shape(&got.body);
        assert_eq!(got.body["roomid"], created.body["roomid"]);

        let list = api.get(&format!("/rooms{slash}?page=1&pageSize=3")).await;
        list.assert_success(200);
        for field in ["pageSize", "currentPage", "totalPage", "total"] {
            assert!(list.body[field].is_string(), "{field}: {}", list.body);
        }
        assert_eq!(list.body["pageSize"], "3");
        for r in list.body["results"].as_array().unwrap() {
            assert_room_shape(r);
            assert_eq!(r.as_object().unwrap().len(), 4, "{{pk, roomid, room_alias, active}}: {r}");
        }

        let put = api.put(&format!("/rooms/{pk}{slash}"), json!({"active": false, "token": token})).await;
        put.assert_success(200);
        assert_room_shape(&put.body);
        assert_eq!(put.body["active"], false);

        let auth = format!("Token {token}");
        let del = api.send_raw(Method::DELETE, &format!("/rooms/{pk}{slash}"), None, &[("authorization", &auth)]).await;
        assert_eq!(del.status, 204);
        assert!(del.raw.is_empty(), "204 has an empty body");
        api.get(&format!("/rooms/{pk}{slash}")).await.assert_fail(404);
        // The alias is free again; the number is not reused.
        let again = api.post("/rooms/", json!({"room_alias": alias, "token": token})).await;
        again.assert_success(201);
        assert_eq!(again.body["active"], false, "active defaults to false");
        assert_ne!(again.body["roomid"], created.body["roomid"]);
    }
    for path in ["/rooms/", "/rooms/1/"] {
        let a = api.send(Method::OPTIONS, path, None).await;
        assert_eq!(a.status, 204);
        assert!(a.headers["allow"].to_str().unwrap().contains("GET"));
    }
    api.get("/rooms/424242/").await.assert_fail(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_of_active_rooms() {
    // 200 rooms of one owner: above the default quota of 100 (tests/limits.rs tests the quota).
    let api = TestApi::with_config(|c| c.room_quota = 200).await;
    let (token, _) = owner(&api).await;
    // 200 rooms, every other one active for the first 190 (95 active), in batches of 20.
    let mut active_pks = BTreeSet::new();
    let api = &api;
    let token = &token;
    for batch in 0..10 {
        let creations = (0..20).map(|i| {
            let n = batch * 20 + i;
            let active = n % 2 == 0 && n < 190;
            let body = json!({"room_alias": unique("p"), "active": active, "token": token});
            async move { (active, api.post("/rooms/", body).await) }
        });
        for (active, a) in join_all(creations).await {
            a.assert_success(201);
            if active {
                active_pks.insert(a.str("pk").parse::<u64>().unwrap());
            }
        }
    }
    assert_eq!(active_pks.len(), 95);

    let mut seen = Vec::new();
    for (page, expected) in [(1, 30), (2, 30), (3, 30), (4, 5)] {
        let a = api.get(&format!("/rooms/?page={page}&pageSize=30")).await;
        a.assert_success(200);
        assert_eq!(a.body["totalPage"], "4");
        assert_eq!(a.body["total"], "95");
        assert_eq!(a.body["currentPage"], page.to_string());
        let results = a.body["results"].as_array().unwrap();
        assert_eq!(results.len(), expected, "page {page}");
        for r in results {
            assert_eq!(r["active"], true);
            seen.push(r["pk"].as_str().unwrap().parse::<u64>().unwrap());
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "ordered by pk");
    assert_eq!(seen.iter().copied().collect::<BTreeSet<_>>(), active_pks, "none twice, none missing");
    assert_eq!(seen.len(), 95);

    let past = api.get("/rooms/?page=5&pageSize=30").await;
    past.assert_success(200);
    assert_eq!(past.body["results"], json!([]));

    // The cursor walks the same rooms, each page read on its own.
    let mut cursor_seen = Vec::new();
    let mut next = String::new();
    loop {
        let a = api.get(&format!("/rooms/?pageSize=40&after={next}")).await;
        a.assert_success(200);
        cursor_seen.extend(
            a.body["results"].as_array().unwrap().iter().map(|r| r["pk"].as_str().unwrap().parse::<u64>().unwrap()),
        );
        next = a.str("next").to_owned();
        if next.is_empty() {
            break;
        }
    }
    assert_eq!(cursor_seen, seen);

    // Defaults, clamping, refusals.
    let a = api.get("/rooms/").await;
    assert_eq!(a.body["pageSize"], "30");
    assert_eq!(a.body["currentPage"], "1");
    let a = api.get("/rooms/?pageSize=1000").await;
    a.assert_success(200);
    assert_eq!(a.body["pageSize"], "100");
    assert_eq!(a.body["results"].as_array().unwrap().len(), 95);
    for bad in ["page=0", "page=-1", "page=abc", "pageSize=0", "pageSize=-5", "pageSize=x", "page=1.5", "after=abc"] {
        api.get(&format!("/rooms/?{bad}")).await.assert_fail(400);
    }

    // Deactivating a room removes it from the list and the total.
    let gone = seen[10];
    api.put(&format!("/rooms/{gone}/"), json!({"active": false, "token": token})).await.assert_success(200);
    let a = api.get("/rooms/?page=1&pageSize=100").await;
    assert_eq!(a.body["total"], "94");
    assert!(!a.body["results"].as_array().unwrap().iter().any(|r| r["pk"].as_str() == Some(gone.to_string().as_str())));
    // And deleting an active one too.
    let del = seen[20];
    let a = api.send_raw(Method::DELETE, &format!("/rooms/{del}/?token={token}"), None, &[]).await;
    assert_eq!(a.status, 204);
    let a = api.get("/rooms/?page=1&pageSize=100").await;
    assert_eq!(a.body["total"], "93");
    assert_eq!(a.body["results"].as_array().unwrap().len(), 93);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_alias_twenty_racers_one_room() {
    let api = TestApi::start().await;
    let (token, _) = owner(&api).await;
    let alias = unique("contested");
    let answers =
        join_all((0..20).map(|_| api.post("/rooms/", json!({"room_alias": alias, "active": true, "token": token}))))
            .await;
    let created = answers.iter().filter(|a| a.status == 201).count();
    assert_eq!(created, 1, "{:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
    for a in answers.iter().filter(|a| a.status != 201) {
        a.assert_fail(409);
    }
    let rooms = api.all_items().await.into_iter().filter(|i| i.contains("room#")).count();
    assert_eq!(rooms, 1);
    let list = api.get("/rooms/").await;
    assert_eq!(list.body["total"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_racing_rooms_get_fifty_numbers_no_account_has() {
    let api = TestApi::start().await;
    let mut account_numbers = BTreeSet::new();
    let mut tokens = Vec::new();
    for _ in 0..5 {
        let (token, roomid) = owner(&api).await;
        account_numbers.insert(roomid);
        tokens.push(token);
    }
    let answers = join_all((0..50).map(|i| {
        api.post("/rooms/", json!({"room_alias": unique("many"), "active": i % 3 == 0, "token": tokens[i % 5]}))
    }))
    .await;
    let numbers: BTreeSet<String> = answers
        .iter()
        .map(|a| {
            a.assert_success(201);
            a.str("roomid").to_owned()
        })
        .collect();
    assert_eq!(numbers.len(), 50);
    assert!(numbers.is_disjoint(&account_numbers));
    // Accounts registered after the rooms still never collide.
    let (_, later) = owner(&api).await;
    assert!(!numbers.contains(&later));
    assert_eq!(api.get("/rooms/").await.body["total"], "17");
}

#[tokio::test]
async fn changes_need_a_token_and_ownership() {
    let api = TestApi::start().await;
    let (alice, _) = owner(&api).await;
    let (mallory, _) = owner(&api).await;
    let room = api.post("/rooms/", json!({"room_alias": unique("mine"), "active": true, "token": alice})).await;
    let pk = room.str("pk").to_owned();
    api.post("/rooms/", json!({"room_alias": unique("anon")})).await.assert_fail(401);

    let before = api.all_items().await;
    api.put(&format!("/rooms/{pk}/"), json!({"active": false})).await.assert_fail(401);
    api.send_raw(Method::DELETE, &format!("/rooms/{pk}/"), None, &[]).await.assert_fail(401);
    api.put(&format!("/rooms/{pk}/"), json!({"active": false, "token": mallory})).await.assert_fail(403);
    let auth = format!("Bearer {mallory}");
    api.send_raw(Method::DELETE, &format!("/rooms/{pk}/"), None, &[("authorization", &auth)]).await.assert_fail(403);
    api.put("/rooms/777777/", json!({"active": false, "token": alice})).await.assert_fail(404);
    api.send_raw(Method::DELETE, &format!("/rooms/777777/?token={alice}"), None, &[]).await.assert_fail(404);
    assert_eq!(before, api.all_items().await, "nothing changed");
}

#[tokio::test]
async fn bad_room_input_is_refused_and_writes_nothing() {
    let api = TestApi::start().await;
    let (token, _) = owner(&api).await;
    let room = api.post("/rooms/", json!({"room_alias": unique("base"), "active": true, "token": token})).await;
    let pk = room.str("pk").to_owned();
    let taken = room.str("room_alias").to_owned();
    let p = Method::POST;
    let u = Method::PUT;
    /// name, method, path, body, status, error id
    type Case = (&'static str, Method, String, Vec<u8>, u16, &'static str);
    let cases: Vec<Case> = vec![
        (
            "active maybe",
            p.clone(),
            "/rooms/".into(),
            json!({"room_alias": "a1", "active": "maybe", "token": token}).to_string().into(),
            400,
            "invalid_active",
        ),
        (
            "active number",
            p.clone(),
            "/rooms/".into(),
            json!({"room_alias": "a1", "active": 1, "token": token}).to_string().into(),
            400,
            "invalid_active",
        ),
        (
            "missing alias",
            p.clone(),
            "/rooms/".into(),
            json!({"active": true, "token": token}).to_string().into(),
            400,
            "missing_room_alias",
        ),
        (
            "empty alias",
            p.clone(),
            "/rooms/".into(),
            json!({"room_alias": "", "token": token}).to_string().into(),
            400,
            "invalid_room_alias",
        ),
        (
            "10 kB alias",
            p.clone(),
            "/rooms/".into(),
            json!({"room_alias": "a".repeat(10240), "token": token}).to_string().into(),
            400,
            "invalid_room_alias",
        ),
        (
            "alias object",
            p.clone(),
            "/rooms/".into(),
            json!({"room_alias": {"x": 1}, "token": token}).to_string().into(),
            400,
            "invalid_room_alias",
        ),
        (
            "alias NUL",
            p.clone(),
            "/rooms/".into(),
            json!({"room_alias": "a\u{0}", "token": token}).to_string().into(),
            400,
            "invalid_room_alias",
        ),
        (
            "alias padded",
            p.clone(),
            "/rooms/".into(),
            json!({"room_alias": " a ", "token": token}).to_string().into(),
            400,
            "invalid_room_alias",
        ),
        (
            "duplicate alias",
            p.clone(),
            "/rooms/".into(),
            json!({"room_alias": taken, "token": token}).to_string().into(),
            409,
            "room_alias_taken",
        ),
        ("body array", p.clone(), "/rooms/".into(), b"[{\"room_alias\":\"x\"}]".to_vec(), 400, "malformed_body"),
        ("malformed", p.clone(), "/rooms/".into(), b"{\"room_alias\":".to_vec(), 400, "malformed_body"),
        (
            "invalid UTF-8",
            p.clone(),
            "/rooms/".into(),
            b"{\"room_alias\":\"\xc3\x28\"}".to_vec(),
            400,
            "malformed_body",
        ),
        (
            "put non-numeric pk",
            u.clone(),
            "/rooms/abc/".into(),
            json!({"active": false, "token": token}).to_string().into(),
            400,
            "invalid_pk",
        ),
        (
            "put active maybe",
            u.clone(),
            format!("/rooms/{pk}/"),
            json!({"active": "maybe", "token": token}).to_string().into(),
            400,
            "invalid_active",
        ),
        ("put body array", u.clone(), format!("/rooms/{pk}/"), b"[]".to_vec(), 400, "malformed_body"),
        (
            "put alias empty",
            u.clone(),
            format!("/rooms/{pk}/"),
            json!({"room_alias": "", "token": token}).to_string().into(),
            400,
            "invalid_room_alias",
        ),
        ("get non-numeric pk", Method::GET, "/rooms/1x/".into(), Vec::new(), 400, "invalid_pk"),
        (
            "delete negative pk",
            Method::DELETE,
            "/rooms/-1/".into(),
            json!({"token": token}).to_string().into(),
            400,
            "invalid_pk",
        ),
        ("get huge pk", Method::GET, "/rooms/99999999999999999999999/".into(), Vec::new(), 400, "invalid_pk"),
    ];
    let before = api.all_items().await;
    for (name, method, path, body, status, error) in cases {
        let a = api.send_raw(method, &path, Some(body), &[]).await;
        a.assert_fail(status);
        assert_eq!(a.body["error"], error, "{name}: {}", a.body);
        assert_eq!(before, api.all_items().await, "{name} wrote something");
    }
}
