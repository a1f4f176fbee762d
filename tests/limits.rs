//! Client numbers and per-owner limits on /rooms/: hostile page numbers get a 4xx or an empty
//! 200, never a 5xx, and a page that cannot hold a room is answered from the active count
//! without reading the index; the room quota holds under parallel creations.

use api_tests::recorder::Recorder;
use api_tests::{unique, Method, TestApi};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use serde_json::json;

async fn create(api: &TestApi, token: &str, active: bool) -> api_tests::Answer {
    api.post("/rooms/", json!({"room_alias": unique("q"), "active": active, "token": token})).await
}

#[tokio::test]
async fn hostile_page_numbers_are_refused_or_empty_and_never_read_the_index_past_the_end() {
    let recorder = Recorder::default();
    let api = recorder.serve(|_| {}).await;
    let token = api.register(&unique("deep")).await["token"].as_str().unwrap().to_owned();
    let mut pks = Vec::new();
    for _ in 0..3 {
        let room = create(&api, &token, true).await;
        room.assert_success(201);
        pks.push(room.str("pk").to_owned());
    }
    recorder.take();

    for (query, error) in [
        // page * pageSize overflows u64 (the debug build panicked, the release one sent Limit(0)).
        ("page=3689348814741910323&pageSize=5", "use_cursor"),
        // u64::MAX has 20 digits: not a canonical page number (at most 19 digits, openapi.yaml).
        ("page=18446744073709551615&pageSize=100", "invalid_page"),
        // One anonymous request reading the whole index, page by page.
        ("page=100000000", "use_cursor"),
        ("page=335&pageSize=30", "use_cursor"),
        ("page=10001&pageSize=1", "use_cursor"),
        ("page=18446744073709551616", "invalid_page"),
        ("page=0", "invalid_page"),
        ("page=-1", "invalid_page"),
        ("page=1e3", "invalid_page"),
        ("page=+2", "invalid_page"),
        ("pageSize=0", "invalid_pageSize"),
        ("pageSize=99999999999999999999", "invalid_pageSize"),
    ] {
        let a = api.get(&format!("/rooms/?{query}")).await;
        a.assert_fail(400);
        assert_eq!(a.body["error"], error, "{query}: {}", a.body);
        assert_eq!(recorder.take(), Vec::<String>::new(), "{query}: refused before any read");
    }
    let deep = api.get("/rooms/?page=335&pageSize=30").await;
    assert_eq!(deep.body["field"], "page");
    recorder.take();

    // Pages past the end, up to the deepest a page number may reach: empty, from the count alone.
    for query in ["page=2&pageSize=3", "page=4&pageSize=1", "page=100&pageSize=100", "page=10000&pageSize=1"] {
        let a = api.get(&format!("/rooms/?{query}")).await;
        a.assert_success(200);
        assert_eq!(a.body["results"], json!([]), "{query}");
        assert_eq!(a.body["total"], "3", "{query}");
        assert_eq!(a.body["next"], "", "{query}");
        assert_eq!(recorder.take(), ["BatchGetItem"], "{query}: the count shards only, no Query");
    }
    // A page inside the list still reads it, and the cursor serves any depth.
    let inside = api.get("/rooms/?page=2&pageSize=2").await;
    inside.assert_success(200);
    assert_eq!(inside.body["results"][0]["pk"], pks[2].as_str());
    assert!(recorder.take().contains(&"Query".to_owned()));
    let after = api.get(&format!("/rooms/?page=9999999999&pageSize=1&after={}", pks[0])).await;
    after.assert_success(200);
    assert_eq!(after.body["results"][0]["pk"], pks[1].as_str());
    assert_eq!(after.body["next"], pks[1].as_str());
    // An oversized pageSize is capped, not an error.
    assert_eq!(api.get("/rooms/?pageSize=1000000").await.body["pageSize"], "100");
}

fn owned_by(items: &[api_tests::Item], owner_pk: &str) -> (usize, i64) {
    let rooms = items
        .iter()
        .filter(|i| matches!(i.get("id"), Some(AttributeValue::S(id)) if id.starts_with("room#")))
        .filter(|i| matches!(i.get("owner_pk"), Some(AttributeValue::N(o)) if o == owner_pk))
        .count();
    // The owner's set (`owner#<pk>`, store/rooms.rs) holds the quota's count.
    let counted = items
        .iter()
        .find(|i| matches!(i.get("id"), Some(AttributeValue::S(id)) if *id == format!("owner#{owner_pk}")))
        .and_then(|i| match i.get("rooms") {
            Some(AttributeValue::Ns(pks)) => i64::try_from(pks.len()).ok(),
            _ => None,
        })
        .unwrap_or(0);
    (rooms, counted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_creations_never_exceed_the_room_quota() {
    let api = TestApi::with_config(|c| c.room_quota = 3).await;
    let owner = api.register(&unique("quota")).await;
    let (token, owner_pk) = (owner["token"].as_str().unwrap(), owner["pk"].as_str().unwrap());

    let answers = join_all((0..12).map(|i| create(&api, token, i % 2 == 0))).await;
    let created = answers.iter().filter(|a| a.status == 201).count();
    for a in answers.iter().filter(|a| a.status != 201) {
        a.assert_fail(409);
        assert!(a.body["error"] == "room_quota" || a.body["error"] == "concurrent_update", "{}", a.body);
    }
    assert!((1..=3).contains(&created), "{created} rooms created with a quota of 3");
    let items = api.scan(&api.ctx.store.tables().rooms).await;
    assert_eq!(owned_by(&items, owner_pk), (created, created as i64), "the count is the rooms that exist");

    for _ in created..3 {
        create(&api, token, false).await.assert_success(201);
    }
    let before = api.all_items().await;
    let refused = create(&api, token, true).await;
    refused.assert_fail(409);
    assert_eq!(refused.body["error"], "room_quota");
    assert_eq!(api.all_items().await, before, "a refused room leaves nothing behind");

    // Someone else's quota is their own; a deletion gives one back.
    let other = api.register(&unique("quota")).await;
    create(&api, other["token"].as_str().unwrap(), false).await.assert_success(201);
    let list = api.scan(&api.ctx.store.tables().rooms).await;
    let mine = list
        .iter()
        .find(|i| matches!(i.get("owner_pk"), Some(AttributeValue::N(o)) if o == owner_pk))
        .and_then(|i| match i.get("pk") {
            Some(AttributeValue::N(pk)) => Some(pk.clone()),
            _ => None,
        })
        .unwrap();
    let del = api.send_raw(Method::DELETE, &format!("/rooms/{mine}/?token={token}"), None, &[]).await;
    assert_eq!(del.status, 204, "{}", del.body);
    create(&api, token, true).await.assert_success(201);
    let items = api.scan(&api.ctx.store.tables().rooms).await;
    assert_eq!(owned_by(&items, owner_pk), (3, 3));
}
