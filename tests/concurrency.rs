//! Races that only DynamoDB itself can settle: uniqueness under simultaneous writers.

use api_tests::{unique, TestApi};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_simultaneous_registrations_of_one_username_make_one_account() {
    let api = TestApi::start().await;
    let name = unique("race");
    let attempts = (0..20).map(|i| {
        api.post("/users/", json!({"username": name, "password": format!("password-{i}"), "nickname": format!("n{i}")}))
    });
    let answers = join_all(attempts).await;
    let ok: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
    let conflicts = answers.iter().filter(|a| a.status == 409).count();
    assert_eq!(ok.len(), 1, "{:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
    assert_eq!(conflicts, 19);
    for a in answers.iter().filter(|a| a.status == 409) {
        a.assert_fail(409);
    }

    let items = api.scan(&api.ctx.store.tables().users).await;
    let users: Vec<_> =
        items.iter().filter(|i| matches!(&i["id"], AttributeValue::S(s) if s.starts_with("user#"))).collect();
    let claims: Vec<_> =
        items.iter().filter(|i| matches!(&i["id"], AttributeValue::S(s) if s == &format!("username#{name}"))).collect();
    assert_eq!(users.len(), 1, "exactly one account");
    assert_eq!(claims.len(), 1, "exactly one claim");
    // One session for the winner: its token, refresh token and session record.
    assert_eq!(api.scan(&api.ctx.store.tables().tokens).await.len(), 3, "one session, for the winner");
    // The winner's password is the one stored.
    let winner_nick = ok[0].str("nickname");
    let i: usize = winner_nick[1..].parse().unwrap();
    api.post("/login/", json!({"username": name, "password": format!("password-{i}")})).await.assert_success(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_users_racing_to_one_new_username_one_wins() {
    let api = TestApi::start().await;
    for _round in 0..3 {
        let a = api.register(&unique("ra")).await;
        let b = api.register(&unique("rb")).await;
        let target = unique("prize");
        let api = &api;
        let rename = |u: &serde_json::Value| {
            let path = format!("/users/{}/", u["pk"].as_str().unwrap());
            let body = json!({"token": u["token"], "username": &target});
            async move { api.put(&path, body).await }
        };
        let (ra, rb) = tokio::join!(rename(&a), rename(&b));
        let mut statuses = [ra.status, rb.status];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{} / {}", ra.body, rb.body);
        let (winner, loser, loser_answer) = if ra.status == 200 { (&a, &b, &rb) } else { (&b, &a, &ra) };
        loser_answer.assert_fail(409);
        let login = api.post("/login/", json!({"username": target, "password": "password123"})).await;
        login.assert_success(200);
        assert_eq!(login.body["pk"], winner["pk"]);
        // The loser keeps its own name.
        api.post("/login/", json!({"username": loser["username"], "password": "password123"}))
            .await
            .assert_success(200);
        let claims = api
            .scan(&api.ctx.store.tables().users)
            .await
            .into_iter()
            .filter(|i| matches!(&i["id"], AttributeValue::S(s) if s.starts_with("username#")))
            .count();
        let accounts = api
            .scan(&api.ctx.store.tables().users)
            .await
            .into_iter()
            .filter(|i| matches!(&i["id"], AttributeValue::S(s) if s.starts_with("user#")))
            .count();
        assert_eq!(claims, accounts, "one claim per account, none leaked");
    }
}
