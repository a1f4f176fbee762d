//! Sign in with Apple (SnsLogin `login_type` "4") against a stand-in Apple on 127.0.0.1: the
//! identity token's signature, issuer, audience, expiry, subject and nonce are all checked
//! before any account is found or created; a refusal is 401 and writes nothing, Apple's keys
//! unreachable is 502 and writes nothing; the keys are fetched once and refetched only for an
//! unknown `kid`, at most once per interval.

use std::time::Duration;

use api_tests::apple::{claims, keys, AppleStandIn, CLIENT_ID, GOOD_CODE};
use api_tests::{assert_user_shape, unique, Method, TestApi};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use shared::social::apple::{retry_pending_revocations, Retried};
use shared::store::AppleToken;

async fn start() -> (TestApi, AppleStandIn) {
    start_with(|_| {}).await
}

async fn start_with(tweak: impl FnOnce(&mut shared::Config)) -> (TestApi, AppleStandIn) {
    start_configured(|_, c| tweak(c)).await
}

/// With the team's credentials too: authorization codes are exchanged, tokens revoked.
async fn start_with_credentials() -> (TestApi, AppleStandIn) {
    start_configured(AppleStandIn::configure_credentials).await
}

async fn start_configured(tweak: impl FnOnce(&AppleStandIn, &mut shared::Config)) -> (TestApi, AppleStandIn) {
    let apple = AppleStandIn::start().await;
    let api = TestApi::with_config(|c| {
        apple.configure(c);
        tweak(&apple, c);
    })
    .await;
    (api, apple)
}

/// Apple's user ids look like this: digits, a hex part, digits, dot separated.
fn apple_sub() -> String {
    format!("001234.{}.0123", hex::encode(unique("a").as_bytes()))
}

fn body(sub: &str, id_token: &str) -> Value {
    json!({"login_type": "4", "snsid": sub, "access_token": id_token, "username": unique("apple"), "nickname": "A",
           "icon": "https://cdn.example.com/a.png"})
}

async fn refused(api: &TestApi, body: Value, status: u16, what: &str) {
    let before = api.all_items().await;
    let a = api.post("/snslogin/", body).await;
    assert_eq!(a.status, status, "{what}: {}", a.body);
    a.assert_fail(status);
    assert_eq!(before, api.all_items().await, "{what} wrote something");
}

#[tokio::test]
async fn first_sign_in_creates_the_account_then_the_same_account_with_one_key_fetch() {
    let (api, apple) = start().await;
    let sub = apple_sub();
    let first = api.post("/snslogin/", body(&sub, &keys()[0].sign(&claims(&sub)))).await;
    first.assert_success(201);
    assert_user_shape(&first.body);
    assert_eq!(first.str("login_type"), "4");
    assert_eq!(first.str("email"), format!("{sub}@privaterelay.appleid.com"), "Apple's email fills email");
    assert!(first.body["refresh_token"].is_string());
    let again = api.post("/snslogin/", body(&sub, &keys()[0].sign(&claims(&sub)))).await;
    again.assert_success(200);
    assert_eq!(again.str("pk"), first.str("pk"));
    assert_eq!(apple.key_requests(), 1, "keys are cached for the sandbox's life");
}

#[tokio::test]
async fn every_forged_or_misdirected_identity_token_is_401_and_writes_nothing() {
    let (api, apple) = start().await;
    let sub = apple_sub();
    let with = |change: Value| {
        let mut c = claims(&sub);
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let now = shared::clock::now_unix();
    let good = &keys()[0];
    let cases: Vec<(&str, String)> = vec![
        // Signed by someone else's key under Apple's kid.
        ("wrong signature", keys()[1].sign_as(&good.kid, &claims(&sub))),
        ("wrong aud", good.sign(&with(json!({"aud": "com.attacker.app"})))),
        ("wrong iss", good.sign(&with(json!({"iss": "https://appleid.apple.com.evil.example"})))),
        ("expired", good.sign(&with(json!({"exp": now - 3600})))),
        ("no exp", good.sign(&with(json!({"exp": null})))),
        ("sub is not snsid", good.sign(&claims(&apple_sub()))),
        ("not a JWT", "eyJhbGciOiJub25lIn0.e30.".to_owned()),
    ];
    for (what, token) in cases {
        refused(&api, body(&sub, &token), 401, what).await;
    }
    // The signature part of a genuine token swapped onto other claims.
    let genuine = good.sign(&claims(&sub));
    let forged = good.sign(&with(json!({"sub": "someone"})));
    let (head, _) = forged.rsplit_once('.').unwrap();
    let spliced = format!("{head}.{}", genuine.rsplit_once('.').unwrap().1);
    refused(&api, body("someone", &spliced), 401, "spliced signature").await;

    // Nonce: SHA-256 hex of the raw nonce the client sends must be the token's nonce claim.
    let raw_nonce = "b1f7a0c3d9e2";
    let hashed = hex::encode(Sha256::digest(raw_nonce.as_bytes()));
    let with_nonce = good.sign(&with(json!({"nonce": hashed})));
    let mut b = body(&sub, &with_nonce);
    b["nonce"] = "another-nonce".into();
    refused(&api, b, 401, "nonce mismatch").await;
    let mut b = body(&sub, &good.sign(&claims(&sub)));
    b["nonce"] = raw_nonce.into();
    refused(&api, b, 401, "nonce sent, token has none").await;
    let mut b = body(&sub, &with_nonce);
    b["nonce"] = raw_nonce.into();
    api.post("/snslogin/", b).await.assert_success(201);
    assert_eq!(apple.key_requests(), 1);
}

#[tokio::test]
async fn an_unknown_kid_refetches_once_then_not_again_within_the_interval() {
    let (api, apple) = start().await;
    let sub = apple_sub();
    api.post("/snslogin/", body(&sub, &keys()[0].sign(&claims(&sub)))).await.assert_success(201);
    assert_eq!(apple.key_requests(), 1);
    // A kid Apple never published: 401 each time, and Apple is asked at most once a minute.
    for _ in 0..3 {
        refused(&api, body(&sub, &keys()[0].sign_as("unknown-kid", &claims(&sub))), 401, "unknown kid").await;
    }
    assert_eq!(apple.key_requests(), 1, "the first fetch was less than a minute ago: no refetch");
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_by_one_refetch() {
    let (api, apple) = start_with(|c| c.sns.apple.keys_refetch_interval = Duration::ZERO).await;
    let sub = apple_sub();
    api.post("/snslogin/", body(&sub, &keys()[0].sign(&claims(&sub)))).await.assert_success(201);
    apple.rotate();
    let a = api.post("/snslogin/", body(&sub, &keys()[1].sign(&claims(&sub)))).await;
    a.assert_success(200);
    assert_eq!(apple.key_requests(), 2, "one refetch for the new kid");
    api.post("/snslogin/", body(&sub, &keys()[1].sign(&claims(&sub)))).await.assert_success(200);
    assert_eq!(apple.key_requests(), 2, "then cached");
    // Unknown kids after a refetch: still refused.
    refused(&api, body(&sub, &keys()[1].sign_as("unknown-kid", &claims(&sub))), 401, "unknown kid").await;
}

#[tokio::test]
async fn apple_keys_unreachable_is_502_and_writes_nothing() {
    let (api, apple) = start().await;
    apple.set_down(true);
    let sub = apple_sub();
    let before = api.all_items().await;
    let a = api.post("/snslogin/", body(&sub, &keys()[0].sign(&claims(&sub)))).await;
    a.assert_fail(502);
    assert_eq!(before, api.all_items().await);
    // Apple back: the next sign-in fetches and succeeds.
    apple.set_down(false);
    api.post("/snslogin/", body(&sub, &keys()[0].sign(&claims(&sub)))).await.assert_success(201);
}

#[tokio::test]
async fn without_configured_client_ids_apple_sign_in_is_refused() {
    let (api, apple) = start_with(|c| c.sns.apple.client_ids.clear()).await;
    let sub = apple_sub();
    refused(&api, body(&sub, &keys()[0].sign(&claims(&sub))), 503, "no client ids").await;
    assert_eq!(apple.key_requests(), 0);
}

#[tokio::test]
async fn the_authorization_code_is_exchanged_and_its_refresh_token_revoked_once_at_deletion() {
    let (api, apple) = start_with_credentials().await;
    let sub = apple_sub();
    let mut b = body(&sub, &keys()[0].sign(&claims(&sub)));
    b["authorization_code"] = GOOD_CODE.into();
    let a = api.post("/snslogin/", b).await;
    a.assert_success(201);
    let pk: u64 = a.str("pk").parse().unwrap();
    let calls = apple.token_calls();
    assert_eq!(calls.len(), 1, "one exchange");
    assert_eq!(calls[0]["client_id"], CLIENT_ID, "the client id the identity token was issued to");
    let stored = api.ctx.store.apple_credentials(pk).await.unwrap().expect("kept for revocation");
    assert!(matches!(stored.token, AppleToken::Sealed(_)), "{stored:?}");
    assert_eq!(stored.client_id, CLIENT_ID);
    let apple_token = format!("r_{GOOD_CODE}");
    // Never in an answer.
    assert!(!a.body.to_string().contains(&apple_token));

    // Deleting the account (a fresh third-party token reauthenticates it) revokes at Apple once,
    // with the stored token, then forgets it.
    let gone = api.send(Method::DELETE, &format!("/users/{pk}/"), Some(json!({"token": a.str("token")}))).await;
    assert_eq!(gone.status, 204, "{}", gone.body);
    let revoked = apple.revoke_calls();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["token"], apple_token, "the token Apple issued, unsealed");
    assert_eq!(revoked[0]["token_type_hint"], "refresh_token");
    assert_eq!(api.ctx.store.apple_credentials(pk).await.unwrap(), None);
    assert!(!shared::social::apple::revoke(&api.ctx, pk).await.unwrap(), "nothing left to revoke");
    assert_eq!(apple.revoke_calls().len(), 1);
}

#[tokio::test]
async fn a_refused_code_or_missing_credentials_store_nothing_and_the_sign_in_stands() {
    // Credentials configured, code refused by Apple.
    let (api, _apple) = start_with_credentials().await;
    let sub = apple_sub();
    let mut b = body(&sub, &keys()[0].sign(&claims(&sub)));
    b["authorization_code"] = "c_expired_or_used".into();
    let a = api.post("/snslogin/", b).await;
    a.assert_success(201);
    assert_eq!(api.ctx.store.apple_credentials(a.str("pk").parse().unwrap()).await.unwrap(), None);

    // No credentials: the code is not sent anywhere.
    let (api, apple) = start().await;
    let mut b = body(&sub, &keys()[0].sign(&claims(&sub)));
    b["authorization_code"] = GOOD_CODE.into();
    let a = api.post("/snslogin/", b).await;
    a.assert_success(201);
    assert!(apple.token_calls().is_empty());
    assert_eq!(api.ctx.store.apple_credentials(a.str("pk").parse().unwrap()).await.unwrap(), None);
}

#[tokio::test]
async fn a_captured_identity_token_with_a_nonce_is_refused_without_its_nonce() {
    let (api, _apple) = start().await;
    let sub = apple_sub();
    // The app's sign-in bound this token to its nonce; a copy replayed without the raw nonce
    // (logs, a proxy, another app) must not sign in.
    let mut claims = claims(&sub);
    claims["nonce"] = hex::encode(Sha256::digest(b"raw-nonce-of-the-app")).into();
    let captured = keys()[0].sign(&claims);
    refused(&api, body(&sub, &captured), 401, "nonce claim, no nonce sent").await;
    let mut b = body(&sub, &captured);
    b["nonce"] = "raw-nonce-of-the-app".into();
    api.post("/snslogin/", b).await.assert_success(201);
}

#[tokio::test]
async fn a_key_apple_withdrew_stops_being_trusted_when_the_cache_expires() {
    // The cache's age limit at zero: every token is checked against keys fetched for it.
    let (api, apple) = start_with(|c| c.sns.apple.keys_max_age = Duration::ZERO).await;
    let sub = apple_sub();
    api.post("/snslogin/", body(&sub, &keys()[0].sign(&claims(&sub)))).await.assert_success(201);
    // Apple withdraws the first key (compromised, or rotated out) and publishes the second.
    apple.rotate();
    refused(&api, body(&sub, &keys()[0].sign(&claims(&sub))), 401, "signed with the withdrawn key").await;
    api.post("/snslogin/", body(&sub, &keys()[1].sign(&claims(&sub)))).await.assert_success(200);
    assert_eq!(apple.key_requests(), 3, "one fetch per check once the cache is too old");
}

/// The `apple#<pk>` item as stored.
async fn apple_item(api: &TestApi, pk: u64) -> Option<api_tests::Item> {
    let table = &api.ctx.store.tables().users;
    let key = aws_sdk_dynamodb::types::AttributeValue::S(format!("apple#{pk}"));
    api.ddb().get_item().table_name(table).key("id", key).consistent_read(true).send().await.unwrap().item
}

#[tokio::test]
async fn apple_s_refresh_token_is_sealed_at_rest_and_expires() {
    let (api, _apple) = start_with_credentials().await;
    let sub = apple_sub();
    let mut b = body(&sub, &keys()[0].sign(&claims(&sub)));
    b["authorization_code"] = GOOD_CODE.into();
    let a = api.post("/snslogin/", b).await;
    a.assert_success(201);
    let pk: u64 = a.str("pk").parse().unwrap();
    let item = apple_item(&api, pk).await.expect("kept for revocation");
    // A copy of the table (a backup, an export, a read-only role) gives no Apple token.
    let dump = format!("{:?}", api.scan(&api.ctx.store.tables().users).await);
    assert!(!dump.contains(&format!("r_{GOOD_CODE}")), "Apple's refresh token stored readable: {item:?}");
    let expires: u64 = item.get("expires_at").and_then(|v| v.as_n().ok()).expect("an expiry").parse().unwrap();
    let now = shared::clock::now_unix();
    assert!((now + 179 * 86_400..=now + 181 * 86_400).contains(&expires), "180 days: {expires}");
}

#[tokio::test]
async fn a_revocation_apple_fails_stays_owed_and_a_later_retry_completes_it() {
    let (api, apple) = start_with_credentials().await;
    let sub = apple_sub();
    let mut b = body(&sub, &keys()[0].sign(&claims(&sub)));
    b["authorization_code"] = GOOD_CODE.into();
    let a = api.post("/snslogin/", b).await;
    a.assert_success(201);
    let pk: u64 = a.str("pk").parse().unwrap();
    // Apple is down when the user deletes the account: the deletion still happens.
    apple.set_down(true);
    let gone = api.send(Method::DELETE, &format!("/users/{pk}/"), Some(json!({"token": a.str("token")}))).await;
    assert_eq!(gone.status, 204, "{}", gone.body);
    assert!(apple.revoke_calls().is_empty());
    assert_eq!(api.ctx.store.pending_apple_revocations().await.unwrap(), vec![pk], "owed");
    let kept = apple_item(&api, pk).await.expect("kept for the retry");
    let until: u64 = kept["expires_at"].as_n().unwrap().parse().unwrap();
    assert!(until <= shared::clock::now_unix() + 30 * 86_400, "kept for the retries only: {until}");
    // Still down: the retry fails and it stays owed.
    let failed = retry_pending_revocations(&api.ctx).await.unwrap();
    assert_eq!(failed, Retried { failed: 1, ..Retried::default() });
    // Apple back: the retry (the sweeper's call) revokes once and forgets everything.
    apple.set_down(false);
    let done = retry_pending_revocations(&api.ctx).await.unwrap();
    assert_eq!(done, Retried { revoked: 1, ..Retried::default() });
    let revoked = apple.revoke_calls();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["token"], format!("r_{GOOD_CODE}"));
    assert!(apple_item(&api, pk).await.is_none());
    assert!(api.ctx.store.pending_apple_revocations().await.unwrap().is_empty());
    assert_eq!(retry_pending_revocations(&api.ctx).await.unwrap(), Retried::default(), "nothing left");
}
