//! Sessions and refresh tokens over real HTTP (API.md "Sessions"): rotation, the reuse grace,
//! theft detection revoking one whole session, parallel refreshes, logout and password change.

use api_tests::interpose::{Interposer, WRITES};
use api_tests::{latest_code, unique, unique_phone, Answer, TestApi};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use shared::auth::tokens::hash;

/// A login session as the app holds it.
#[derive(Clone, Debug)]
struct Pair {
    pk: String,
    token: String,
    refresh: String,
}

impl Pair {
    fn of(body: &Value) -> Self {
        let s = |f: &str| body[f].as_str().unwrap_or_else(|| panic!("{f} missing in {body}")).to_owned();
        Pair { pk: s("pk"), token: s("token"), refresh: s("refresh_token") }
    }
}

fn assert_session_fields(body: &Value) {
    let refresh = body["refresh_token"].as_str().unwrap_or_else(|| panic!("no refresh_token in {body}"));
    assert!(refresh.len() == 64 && refresh.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')), "{refresh}");
    let left: u64 = body["refresh_expires_in"].as_str().unwrap().parse().unwrap();
    assert!((30 * 86_400 - 60..=30 * 86_400).contains(&left), "{left}");
}

async fn login(api: &TestApi, name: &str) -> Pair {
    let a = api.post("/login/", json!({"username": name, "password": "password123"})).await;
    a.assert_success(200);
    assert_session_fields(&a.body);
    Pair::of(&a.body)
}

async fn refresh(api: &TestApi, refresh_token: &str) -> Answer {
    api.post("/token/refresh/", json!({"refresh_token": refresh_token})).await
}

/// Whether `token` still authenticates (an owner-only call that changes nothing visible).
async fn token_works(api: &TestApi, pair: &Pair, token: &str) -> bool {
    let a = api.put(&format!("/users/{}/", pair.pk), json!({"token": token})).await;
    match a.status {
        200 => true,
        401 => false,
        other => panic!("unexpected {other}: {}", a.body),
    }
}

/// Moves the rotation of `refresh_token` `seconds` into the past, as if the app came back later.
async fn age_rotation(api: &TestApi, refresh_token: &str, seconds: u64) {
    shift(api, refresh_token, "used_at", seconds).await;
}

async fn shift(api: &TestApi, refresh_token: &str, attribute: &str, seconds: u64) {
    let id = format!("refresh#{}", hash(refresh_token));
    let item = api
        .ddb()
        .get_item()
        .table_name(&api.ctx.store.tables().tokens)
        .key("id", AttributeValue::S(id.clone()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_else(|| panic!("no {id}"));
    let value: u64 = item[attribute].as_n().unwrap().parse().unwrap();
    api.ddb()
        .update_item()
        .table_name(&api.ctx.store.tables().tokens)
        .key("id", AttributeValue::S(id))
        .update_expression("SET #a = :v")
        .expression_attribute_names("#a", attribute)
        .expression_attribute_values(":v", AttributeValue::N((value - seconds).to_string()))
        .send()
        .await
        .unwrap();
}

async fn refresh_items(api: &TestApi) -> usize {
    let items = api.scan(&api.ctx.store.tables().tokens).await;
    items.iter().filter(|i| i["id"].as_s().unwrap().starts_with("refresh#")).count()
}

#[tokio::test]
async fn every_answer_that_issues_a_token_carries_a_refresh_token() {
    let api = TestApi::start().await;
    let name = unique("sess");
    let reg = api.register(&name).await;
    assert_session_fields(&reg);
    let pair = login(&api, &name).await;
    let pw = api
        .put(
            "/password/",
            json!({"username": name, "old_password": "password123", "password": "password456", "token": pair.token}),
        )
        .await;
    pw.assert_success(200);
    assert_session_fields(&pw.body);

    let (national, e164) = unique_phone();
    api.post("/phonelogin/", json!({"phone": national})).await.assert_success(200);
    let code = latest_code(&e164).await;
    let phone = api.get(&format!("/phonelogin/?phone={national}&captcha={code}")).await;
    phone.assert_success(200);
    assert_session_fields(&phone.body);

    // Profile changes answer with the caller's token: they issue nothing.
    let info = api.put(&format!("/users/{}/", pair.pk), json!({"token": pw.str("token")})).await;
    info.assert_success(200);
    assert!(info.body.get("refresh_token").is_none(), "{}", info.body);
}

#[tokio::test]
async fn a_rotation_chain_of_five_each_refresh_token_working_once() {
    let api = TestApi::start().await;
    let name = unique("chain");
    api.register(&name).await;
    let mut pair = login(&api, &name).await;
    let mut seen = vec![pair.token.clone(), pair.refresh.clone()];
    for _ in 0..5 {
        let a = refresh(&api, &pair.refresh).await;
        a.assert_success(200);
        assert_session_fields(&a.body);
        let next = Pair::of(&a.body);
        assert_eq!(next.pk, pair.pk);
        assert!(!seen.contains(&next.token) && !seen.contains(&next.refresh), "tokens must be new");
        seen.extend([next.token.clone(), next.refresh.clone()]);
        assert!(token_works(&api, &next, &next.token).await);
        // The previous 24 h token stays valid until it expires (a request in flight keeps working).
        assert!(token_works(&api, &next, &pair.token).await);
        pair = next;
    }
    // Nothing in the table is a usable token: only hashes, and the grace's sealed successors.
    let dump = format!("{:?}", api.scan(&api.ctx.store.tables().tokens).await);
    for secret in &seen {
        assert!(!dump.contains(secret.as_str()), "plain token stored");
    }
    // Registration, login and five rotations: one record per refresh token, the used ones kept
    // (until they expire) so that a replay is recognised.
    assert_eq!(refresh_items(&api).await, 7);
}

#[tokio::test]
async fn reuse_inside_the_grace_gets_the_same_answer_as_the_rotation() {
    let api = TestApi::start().await;
    let name = unique("grace");
    api.register(&name).await;
    let first = login(&api, &name).await;
    let a = refresh(&api, &first.refresh).await;
    a.assert_success(200);
    // The app's request timed out and is retried, 9 s after the rotation.
    age_rotation(&api, &first.refresh, 9).await;
    let retry = refresh(&api, &first.refresh).await;
    retry.assert_success(200);
    assert_eq!(Pair::of(&retry.body).token, Pair::of(&a.body).token);
    assert_eq!(Pair::of(&retry.body).refresh, Pair::of(&a.body).refresh);
    let next = Pair::of(&a.body);
    assert!(token_works(&api, &next, &next.token).await);
    // The successor is still the live refresh token: the session was not harmed.
    refresh(&api, &next.refresh).await.assert_success(200);
}

#[tokio::test]
async fn reuse_after_its_successor_was_used_revokes_that_session_and_only_that_session() {
    let api = TestApi::start().await;
    let name = unique("theft");
    api.register(&name).await;
    let stolen = login(&api, &name).await;
    let other = login(&api, &name).await;

    // The app rotates twice; a thief who copied the first refresh token uses it 11 s later: a
    // second, different successor of a token whose successor was already used.
    let first = Pair::of(&refresh(&api, &stolen.refresh).await.body);
    let a = refresh(&api, &first.refresh).await;
    a.assert_success(200);
    let current = Pair::of(&a.body);
    age_rotation(&api, &stolen.refresh, 11).await;
    refresh(&api, &stolen.refresh).await.assert_fail(401);

    // The whole session is dead: its live refresh token, its newest and its older 24 h tokens.
    refresh(&api, &current.refresh).await.assert_fail(401);
    assert!(!token_works(&api, &current, &current.token).await, "the session's new token must die");
    assert!(!token_works(&api, &current, &stolen.token).await, "the session's first token must die");
    // Asking again changes nothing.
    refresh(&api, &stolen.refresh).await.assert_fail(401);

    // The user's other session (another device) is untouched.
    assert!(token_works(&api, &other, &other.token).await);
    let b = refresh(&api, &other.refresh).await;
    b.assert_success(200);
    assert!(token_works(&api, &other, Pair::of(&b.body).token.as_str()).await);
}

#[tokio::test]
async fn a_retry_after_a_lost_answer_however_late_gets_a_working_pair() {
    let api = TestApi::start().await;
    let name = unique("late");
    api.register(&name).await;
    let pair = login(&api, &name).await;
    // The rotation happens, its answer never reaches the app (offline, killed, backoff).
    let lost = Pair::of(&refresh(&api, &pair.refresh).await.body);
    // The app retries an hour later with the only refresh token it has.
    age_rotation(&api, &pair.refresh, 3600).await;
    let retry = refresh(&api, &pair.refresh).await;
    retry.assert_success(200);
    let next = Pair::of(&retry.body);
    assert_ne!(next.refresh, lost.refresh, "a new successor, not the lost one");
    assert!(token_works(&api, &next, &next.token).await);
    assert!(token_works(&api, &next, &pair.token).await, "the app's own older token still works");
    assert!(!token_works(&api, &next, &lost.token).await, "the lost answer's token is nobody's: dead");
    let later = refresh(&api, &next.refresh).await;
    later.assert_success(200);
    // Whoever presents the lost successor holds a second, different successor of the same token:
    // theft, and the whole session ends.
    refresh(&api, &lost.refresh).await.assert_fail(401);
    assert!(!token_works(&api, &next, later.str("token")).await);
    refresh(&api, later.str("refresh_token")).await.assert_fail(401);
}

#[tokio::test]
async fn a_thief_replaying_before_the_app_refreshes_again_is_caught_at_the_app_s_next_refresh() {
    let api = TestApi::start().await;
    let name = unique("early");
    api.register(&name).await;
    let stolen = login(&api, &name).await;
    let app = Pair::of(&refresh(&api, &stolen.refresh).await.body);
    // The thief presents the copied, used token a minute later, while the app's successor is
    // still unused: indistinguishable from the app's own late retry, so it gets a pair ...
    age_rotation(&api, &stolen.refresh, 60).await;
    let thief = Pair::of(&refresh(&api, &stolen.refresh).await.body);
    // ... and the app's current 24 h token dies with that (nobody legitimate held it any more
    // if this were the app's retry): the app refreshes, presenting a superseded successor.
    assert!(!token_works(&api, &app, &app.token).await);
    refresh(&api, &app.refresh).await.assert_fail(401);
    // That second, different successor use ends the session: the thief is out too.
    assert!(!token_works(&api, &thief, &thief.token).await);
    refresh(&api, &thief.refresh).await.assert_fail(401);
}

#[tokio::test]
async fn ten_parallel_refreshes_of_one_token_make_one_new_pair() {
    let api = TestApi::start().await;
    let name = unique("par");
    api.register(&name).await;
    let pair = login(&api, &name).await;
    let before = refresh_items(&api).await;

    let answers = futures::future::join_all((0..10).map(|_| refresh(&api, &pair.refresh))).await;
    let mut pairs = Vec::new();
    for a in &answers {
        a.assert_success(200);
        pairs.push((a.str("token").to_owned(), a.str("refresh_token").to_owned()));
    }
    pairs.dedup();
    assert_eq!(pairs.len(), 1, "every caller gets the one winner's pair: {pairs:?}");
    assert_eq!(refresh_items(&api).await, before + 1, "exactly one rotation was written");
    let (token, next) = &pairs[0];
    assert!(token_works(&api, &pair, token).await);
    refresh(&api, next).await.assert_success(200);
}

#[tokio::test]
async fn password_change_kills_every_refresh_token() {
    let api = TestApi::start().await;
    let name = unique("pwkill");
    api.register(&name).await;
    let a = login(&api, &name).await;
    let b = login(&api, &name).await;
    let rotated = Pair::of(&refresh(&api, &b.refresh).await.body);
    let pw = api
        .put(
            "/password/",
            json!({"username": name, "old_password": "password123", "password": "password456", "token": a.token}),
        )
        .await;
    pw.assert_success(200);
    for r in [&a.refresh, &b.refresh, &rotated.refresh] {
        refresh(&api, r).await.assert_fail(401);
    }
    assert!(!token_works(&api, &a, &rotated.token).await);
    // The session the change opened works, and refreshes.
    let fresh = Pair::of(&pw.body);
    let c = refresh(&api, &fresh.refresh).await;
    c.assert_success(200);
    assert!(token_works(&api, &fresh, c.str("token")).await);
}

#[tokio::test]
async fn logout_ends_its_session_and_no_other() {
    let api = TestApi::start().await;
    let name = unique("out");
    api.register(&name).await;
    let s1 = login(&api, &name).await;
    let s2 = login(&api, &name).await;
    let rotated = Pair::of(&refresh(&api, &s1.refresh).await.body);
    api.post("/logout/", json!({"token": rotated.token})).await.assert_success(200);
    refresh(&api, &rotated.refresh).await.assert_fail(401);
    assert!(!token_works(&api, &s1, &s1.token).await, "the session's older token dies with it");
    assert!(token_works(&api, &s2, &s2.token).await);
    refresh(&api, &s2.refresh).await.assert_success(200);
}

#[tokio::test]
async fn expired_unknown_and_malformed_refresh_tokens_are_401() {
    let api = TestApi::start().await;
    let name = unique("exp");
    api.register(&name).await;
    let pair = login(&api, &name).await;
    shift(&api, &pair.refresh, "expires_at", 30 * 86_400 + 1).await;
    let before = api.all_items().await;
    refresh(&api, &pair.refresh).await.assert_fail(401);
    assert_eq!(api.all_items().await, before, "an expired refresh token writes nothing");

    refresh(&api, &"ab".repeat(32)).await.assert_fail(401);
    refresh(&api, &pair.token).await.assert_fail(401);
    refresh(&api, &pair.refresh.to_uppercase()).await.assert_fail(401);
    api.post("/token/refresh/", json!({})).await.assert_fail(400);
    api.post("/token/refresh/", json!({"refresh_token": "a".repeat(65)})).await.assert_fail(400);
    // A 24 h token is not a refresh token, and a refresh token is not a 24 h token.
    let as_token = api.put(&format!("/users/{}/", pair.pk), json!({"token": pair.refresh})).await;
    assert_ne!(as_token.status, 200, "a refresh token is not a 24 h token");
}

/// Sets `ended_at` on the session of `token` directly, leaving every token and refresh token item
/// in place: what a revocation that stopped after its first write leaves behind (and what ending a
/// session from elsewhere, an operator or another device, does first).
async fn mark_session_ended(api: &TestApi, token: &str) {
    let table = &api.ctx.store.tables().tokens;
    let item = api
        .ddb()
        .get_item()
        .table_name(table)
        .key("id", AttributeValue::S(hash(token)))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("the token's item");
    let session = item["session"].as_s().unwrap();
    api.ddb()
        .update_item()
        .table_name(table)
        .key("id", AttributeValue::S(format!("session#{session}")))
        .update_expression("SET ended_at = :now")
        .expression_attribute_values(":now", AttributeValue::N(shared::clock::now_unix().to_string()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn an_ended_session_s_tokens_and_refresh_tokens_fail_even_if_their_items_survive() {
    let api = TestApi::start().await;
    let name = unique("ended");
    api.register(&name).await;
    let first = login(&api, &name).await;
    let other = login(&api, &name).await;
    let rotated = Pair::of(&refresh(&api, &first.refresh).await.body);
    mark_session_ended(&api, &rotated.token).await;
    assert!(!token_works(&api, &first, &rotated.token).await, "the session's newest token");
    assert!(!token_works(&api, &first, &first.token).await, "the session's first token");
    refresh(&api, &rotated.refresh).await.assert_fail(401);
    api.post("/logout/", json!({"token": first.token})).await.assert_fail(401);
    assert!(token_works(&api, &other, &other.token).await, "another session of the account");
}

#[tokio::test]
async fn a_logout_that_fails_midway_completes_when_retried() {
    let (api, dynamodb) = Interposer::serve(|_| {}).await;
    let name = unique("outfail");
    api.register(&name).await;
    let pair = login(&api, &name).await;
    let rotated = Pair::of(&refresh(&api, &pair.refresh).await.body);
    // DynamoDB fails every write of the session while the app logs out.
    dynamodb.fail(WRITES, "session#");
    api.post("/logout/", json!({"token": rotated.token})).await.assert_fail(503);
    assert!(!dynamodb.heal().is_empty(), "the session's end was attempted");
    // The app retries, as the 503 told it to: the logout completes.
    api.post("/logout/", json!({"token": rotated.token})).await.assert_success(200);
    refresh(&api, &rotated.refresh).await.assert_fail(401);
    assert!(!token_works(&api, &pair, &rotated.token).await);
    assert!(!token_works(&api, &pair, &pair.token).await, "the session's older token");
}

#[tokio::test]
async fn a_theft_revocation_that_fails_midway_leaves_the_session_whole_and_a_retry_ends_it() {
    let (api, dynamodb) = Interposer::serve(|_| {}).await;
    let name = unique("theftfail");
    api.register(&name).await;
    let stolen = login(&api, &name).await;
    let second = Pair::of(&refresh(&api, &stolen.refresh).await.body);
    let third = Pair::of(&refresh(&api, &second.refresh).await.body);
    age_rotation(&api, &stolen.refresh, 11).await;
    // The thief presents the used token; the revocation's token deletions fail.
    dynamodb.fail(&["TransactWriteItems"], "\"Delete\"");
    refresh(&api, &stolen.refresh).await.assert_fail(503);
    assert!(!dynamodb.heal().is_empty(), "the revocation was attempted");
    // Nothing is half-done: the session's 24 h token works exactly when its refresh token does.
    let token_alive = token_works(&api, &third, &third.token).await;
    let refresh_alive = refresh(&api, &third.refresh).await.status == 200;
    assert_eq!(token_alive, refresh_alive, "a half-revoked session: token {token_alive}, refresh {refresh_alive}");
    // The next presentation of the stolen token (the retry) ends the whole session.
    refresh(&api, &stolen.refresh).await.assert_fail(401);
    for token in [&stolen.token, &second.token, &third.token] {
        assert!(!token_works(&api, &third, token).await);
    }
    refresh(&api, &third.refresh).await.assert_fail(401);
}
