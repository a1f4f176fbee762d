//! The store's error paths, pinned without an emulator: DynamoDB Local cannot be made to fail
//! a condition at item N of a transaction, lose twelve transaction races in a row or throttle
//! on demand. A replay connector answers each request with a recorded DynamoDB answer and keeps
//! the requests, so the tests also check the conditions the store sends. The client is the
//! production one (`deadlines::dynamodb`: timeouts, 2 attempts, backoff).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::http::{http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;
use serde_json::{json, Value};

use super::{Claim, ClaimKind, Store, StoreError};
use crate::config::Tables;
use crate::deadlines::CONFLICT_ATTEMPTS;
use crate::domain::{Room, User};
use crate::phone::Phone;

/// One recorded answer.
#[derive(Clone, Debug)]
enum Answer {
    Http(u16, String),
    /// The connection timed out before any answer.
    Timeout,
}

/// `GIVEN` the answers, in order; the last one repeats once the others are used up.
#[derive(Clone, Debug, Default)]
struct Replay(Arc<Mutex<State>>);

#[derive(Debug, Default)]
struct State {
    answers: VecDeque<Answer>,
    /// (X-Amz-Target operation, JSON body) of every request, in order.
    requests: Vec<(String, Value)>,
}

impl HttpConnector for Replay {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut state = self.0.lock().unwrap();
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
        let body = serde_json::from_slice(request.body().bytes().unwrap_or_default()).unwrap_or(Value::Null);
        state.requests.push((operation, body));
        let answer = if state.answers.len() > 1 { state.answers.pop_front() } else { state.answers.front().cloned() };
        HttpConnectorFuture::ready(match answer.expect("a recorded answer") {
            Answer::Http(status, body) => {
                Ok(HttpResponse::new(status.try_into().unwrap(), SdkBody::from(body.into_bytes())))
            }
            Answer::Timeout => Err(ConnectorError::timeout("replayed connect timeout".into())),
        })
    }
}

impl Replay {
    fn store(answers: impl IntoIterator<Item = Answer>) -> (Store, Replay) {
        let replay = Replay::default();
        replay.0.lock().unwrap().answers.extend(answers);
        let connector = SharedHttpConnector::new(replay.clone());
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new("AKID", "SECRET", None, None, "t")))
            .http_client(http_client_fn(move |_, _| connector.clone()))
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(crate::deadlines::dynamodb(&sdk));
        (Store::new(client, Tables::local("")), replay)
    }

    fn requests(&self) -> Vec<(String, Value)> {
        self.0.lock().unwrap().requests.clone()
    }

    /// The `TransactItems` of the only request, which must be a transaction.
    fn transaction(&self) -> Vec<Value> {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        assert_eq!(requests[0].0, "TransactWriteItems");
        requests[0].1["TransactItems"].as_array().unwrap().clone()
    }
}

fn ok() -> Answer {
    Answer::Http(200, "{}".into())
}

/// A `TransactionCanceledException` whose reasons are `codes`, one per item, "None" for the
/// items that were fine.
fn canceled(codes: &[&str]) -> Answer {
    let reasons: Vec<Value> = codes.iter().map(|c| json!({"Code": c})).collect();
    let body = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
        "CancellationReasons": reasons,
    });
    Answer::Http(400, body.to_string())
}

/// Item `index` of `len` failed its condition.
fn condition_failed_at(index: usize, len: usize) -> Answer {
    let codes: Vec<&str> = (0..len).map(|i| if i == index { "ConditionalCheckFailed" } else { "None" }).collect();
    canceled(&codes)
}

fn throttled() -> Answer {
    let body = json!({
        "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
        "message": "Rate of requests exceeds the allowed throughput.",
    });
    Answer::Http(400, body.to_string())
}

fn room() -> Room {
    Room { pk: 4, roomid: 1009, room_alias: "1262".into(), active: true, owner_pk: 7, version: 0 }
}

fn user() -> User {
    User::new(7, "alice".into(), "0", 1007, "2026-01-01T00:00:00Z".into())
}

/// A new session's grant: its token, refresh token and session item.
fn grant() -> super::Grant {
    super::Grant {
        session: "s1".into(),
        user_pk: 7,
        epoch: 0,
        token_hash: "ab".repeat(32),
        token_expires_at: 99,
        issued_at: 1,
        refresh_hash: "cd".repeat(32),
        refresh_expires_at: 999,
    }
}

fn phone() -> Phone {
    Phone::parse("13800138000", &["86".to_owned()]).unwrap()
}

#[tokio::test]
async fn a_room_creation_refused_at_each_item_names_the_right_cause() {
    // GIVEN the five items of an active room's creation: alias claim, room, owner alive, owner's
    // set under the quota, active count.
    let expected = [
        StoreError::Taken(ClaimKind::RoomAlias),
        StoreError::Contended,
        StoreError::OwnerGone,
        StoreError::RoomQuota { limit: 100 },
        StoreError::Contended,
    ];
    for (index, expected) in expected.into_iter().enumerate() {
        // WHEN the transaction fails its condition at item `index`
        let (store, replay) = Replay::store([condition_failed_at(index, 5)]);
        let err = store.create_room(&room(), 100).await.unwrap_err();
        // THEN the error names that item's cause, after one request (a refusal is not retried)
        assert_eq!(err, expected, "item {index}");
        assert_eq!(replay.requests().len(), 1);
    }
}

#[tokio::test]
async fn a_room_creation_sends_the_conditions_that_keep_aliases_unique_and_the_quota() {
    let (store, replay) = Replay::store([ok()]);
    store.create_room(&room(), 100).await.unwrap();
    let items = replay.transaction();
    assert_eq!(items.len(), 5);
    assert_eq!(items[0]["Put"]["Item"]["id"]["S"], "alias#1262");
    assert_eq!(items[0]["Put"]["ConditionExpression"], "attribute_not_exists(id)");
    assert_eq!(items[1]["Put"]["Item"]["id"]["S"], "room#4");
    assert_eq!(items[1]["Put"]["ConditionExpression"], "attribute_not_exists(id)");
    assert_eq!(items[2]["ConditionCheck"]["Key"]["id"]["S"], "user#7");
    assert_eq!(
        items[2]["ConditionCheck"]["ConditionExpression"],
        "attribute_exists(id) AND attribute_not_exists(deleted_at)"
    );
    assert_eq!(items[3]["Update"]["Key"]["id"]["S"], "owner#7");
    assert_eq!(items[3]["Update"]["ConditionExpression"], "attribute_not_exists(rooms) OR size(rooms) < :quota");
    assert_eq!(items[3]["Update"]["ExpressionAttributeValues"][":quota"]["N"], "100");
    assert_eq!(items[4]["Update"]["Key"]["id"]["S"], "stats#active_rooms#4", "the count shard of room 4");
}

#[tokio::test]
async fn an_account_creation_refused_at_each_claim_names_its_field() {
    // GIVEN a phone sign-up: phone claim, username claim, account, the session (token, refresh
    // token, session item), and the captcha it uses up.
    let linked = super::LinkedWrite { item: room_update_stand_in(), refused: || StoreError::CaptchaRefused };
    let expected = [
        StoreError::Taken(ClaimKind::Phone),
        StoreError::Taken(ClaimKind::Username),
        StoreError::Contended,
        StoreError::Contended,
        StoreError::Contended,
        StoreError::Contended,
        StoreError::CaptchaRefused,
    ];
    for (index, expected) in expected.into_iter().enumerate() {
        let (store, _) = Replay::store([condition_failed_at(index, 7)]);
        let err =
            store.create_user(&user(), None, &[Claim::phone(&phone())], &grant(), Some(&linked)).await.unwrap_err();
        assert_eq!(err, expected, "item {index}");
    }
    // A third-party identity's claim is the first item of an SnsLogin sign-up.
    let fields = crate::validate::Fields::parse(br#"{"snsid": "oXyZ"}"#).unwrap();
    let sns = Claim::sns("1", &crate::validate::snsid(&fields, "snsid").unwrap());
    let (store, _) = Replay::store([condition_failed_at(0, 6)]);
    let err = store.create_user(&user(), None, &[sns], &grant(), None).await.unwrap_err();
    assert_eq!(err, StoreError::Taken(ClaimKind::Sns));
    // The claims come first, each written only if free.
    let (store, replay) = Replay::store([ok()]);
    store.create_user(&user(), Some("hash"), &[Claim::phone(&phone())], &grant(), None).await.unwrap();
    let items = replay.transaction();
    let ids: Vec<&str> = items.iter().map(|i| i["Put"]["Item"]["id"]["S"].as_str().unwrap()).collect();
    let refresh = format!("refresh#{}", "cd".repeat(32));
    assert_eq!(ids, ["phone#+8613800138000", "username#alice", "user#7", &"ab".repeat(32), &refresh, "session#s1"]);
    assert!(items.iter().all(|i| i["Put"]["ConditionExpression"] == "attribute_not_exists(id)"));
}

/// Some conditional write standing in for a captcha's consumption.
fn room_update_stand_in() -> aws_sdk_dynamodb::types::TransactWriteItem {
    let (store, _) = Replay::store([ok()]);
    store.alias_release("x", 1).unwrap()
}

#[tokio::test]
async fn a_phone_bind_names_the_taken_phone_and_keeps_the_captcha_for_its_own_refusal() {
    let linked = super::LinkedWrite { item: room_update_stand_in(), refused: || StoreError::CaptchaRefused };
    for (index, expected) in
        [(0, StoreError::CaptchaRefused), (1, StoreError::Contended), (2, StoreError::Taken(ClaimKind::Phone))]
    {
        let (store, _) = Replay::store([condition_failed_at(index, 3)]);
        let err = store.bind_phone(&user(), &phone(), &linked).await.unwrap_err();
        assert_eq!(err, expected, "item {index}");
    }
}

#[tokio::test]
async fn a_rename_taken_by_someone_else_is_username_taken() {
    // GIVEN the old credentials, then the rename transaction refused at the new name's claim.
    let creds = json!({"Item": {
        "id": {"S": "username#alice"}, "username": {"S": "alice"}, "user_pk": {"N": "7"}, "token_epoch": {"N": "0"}
    }});
    let (store, replay) = Replay::store([Answer::Http(200, creds.to_string()), condition_failed_at(1, 3)]);
    let renamed = User { username: "bob".into(), ..user() };
    let err = store.save_user(&renamed, "alice").await.unwrap_err();
    assert_eq!(err, StoreError::Taken(ClaimKind::Username));
    let requests = replay.requests();
    let items = requests[1].1["TransactItems"].as_array().unwrap();
    assert_eq!(items[0]["Put"]["ConditionExpression"], "version = :v", "written over the version read");
    assert_eq!(items[1]["Put"]["Item"]["id"]["S"], "username#bob");
    assert_eq!(items[2]["Delete"]["ConditionExpression"], "user_pk = :pk", "only our own old claim is released");
}

#[tokio::test]
async fn transaction_conflicts_are_retried_then_contended() {
    // GIVEN one conflict, then success: the transaction is simply retried.
    let (store, replay) = Replay::store([canceled(&["TransactionConflict", "None"]), ok()]);
    store.delete_room(&Room { active: false, ..room() }).await.unwrap();
    assert_eq!(replay.requests().len(), 2);

    // GIVEN a conflict storm: never more than the configured attempts, then 409 concurrent_update.
    let (store, replay) = Replay::store([canceled(&["None", "TransactionConflict", "None"])]);
    let err = store.delete_room(&Room { active: false, ..room() }).await.unwrap_err();
    assert!(matches!(err, StoreError::Contended), "{err:?}");
    let sent = replay.requests().len() as u32;
    assert!((2..=CONFLICT_ATTEMPTS).contains(&sent), "{sent} attempts");
    assert!(replay.requests().iter().all(|(op, _)| op == "TransactWriteItems"));

    // A condition that failed beside a conflict is an answer, not a race to retry.
    let (store, replay) = Replay::store([canceled(&["TransactionConflict", "ConditionalCheckFailed", "None"])]);
    assert!(store.delete_room(&Room { active: false, ..room() }).await.is_err());
    assert_eq!(replay.requests().len(), 1);
}

#[tokio::test]
async fn throttling_and_timeouts_are_unavailable_after_the_configured_attempts() {
    for answer in [throttled(), Answer::Timeout, Answer::Http(500, r#"{"__type":"InternalServerError"}"#.into())] {
        // GIVEN DynamoDB answering only `answer`
        let (store, replay) = Replay::store([answer.clone()]);
        // WHEN a read and a transaction are made
        let read = store.get_room(4).await.unwrap_err();
        let write = store.create_room(&room(), 100).await.unwrap_err();
        // THEN both are unavailable (503) after the SDK's two attempts each (deadlines.rs),
        // never contended (409)
        for err in [read, write] {
            assert!(matches!(err, StoreError::Unavailable(_)), "{answer:?}: {err:?}");
        }
        assert_eq!(replay.requests().len(), 4, "{answer:?}: 2 attempts each");
    }
}

#[tokio::test]
async fn a_damaged_item_read_through_the_client_is_corrupt_not_zero() {
    let damaged = json!({"Item": {"id": {"S": "user#7"}, "pk": {"N": "7"}, "username": {"S": "alice"}, "roomid": {"N": "1007"}, "version": {"N": "0"}}});
    let (store, _) = Replay::store([Answer::Http(200, damaged.to_string())]);
    let err = store.get_user(7).await.unwrap_err();
    assert_eq!(err, StoreError::Corrupt { key: "user#7".into(), attribute: "token_epoch".into() });
}

fn counter_answer(value: u64) -> Answer {
    Answer::Http(200, json!({"Attributes": {"value": {"N": value.to_string()}}}).to_string())
}

#[tokio::test]
async fn one_counter_write_reserves_a_block_handed_out_in_order_then_the_next_block() {
    // GIVEN blocks of 3: the counter answers 1003 (room numbers start after 1000), then 1009
    // (another instance took 1004-1006 in between).
    let (store, replay) = Replay::store([counter_answer(1003), counter_answer(1009)]);
    let store = store.with_id_block(3);
    let mut numbers = Vec::new();
    for _ in 0..5 {
        numbers.push(store.next_room_number().await.unwrap());
    }
    assert_eq!(numbers, [1001, 1002, 1003, 1007, 1008]);
    let requests = replay.requests();
    assert_eq!(requests.len(), 2, "one UpdateItem per block: {requests:?}");
    assert_eq!(requests[0].1["UpdateExpression"], "SET #v = if_not_exists(#v, :start) + :block");
    assert_eq!(requests[0].1["ExpressionAttributeValues"][":block"]["N"], "3");
    assert_eq!(requests[0].1["ExpressionAttributeValues"][":start"]["N"], "1000");
    assert_eq!(requests[0].1["ReturnValues"], "UPDATED_NEW");
}

#[tokio::test]
async fn a_counter_below_its_block_is_corrupt_not_a_number() {
    // A value that cannot be the end of a block just reserved (a manual edit): never hand out
    // numbers at or below the start.
    let (store, _) = Replay::store([counter_answer(1002)]);
    let err = store.with_id_block(3).next_room_number().await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { ref key, .. } if key == "counter#room_number"), "{err:?}");
}

#[tokio::test]
async fn the_total_sums_the_shards_in_one_batch_read_asking_again_for_unprocessed_keys() {
    // GIVEN a first answer with two shards and the rest unprocessed (throttled), then the rest.
    let table = Tables::local("").rooms;
    let shard = |k: u64, v: u64| json!({"id": {"S": format!("stats#active_rooms#{k}")}, "value": {"N": v.to_string()}});
    let rest: Vec<Value> =
        (2..super::rooms::ACTIVE_SHARDS).map(|k| json!({"id": {"S": format!("stats#active_rooms#{k}")}})).collect();
    let first = json!({"Responses": {&table: [shard(0, 4), shard(1, 5)]},
        "UnprocessedKeys": {&table: {"Keys": rest, "ConsistentRead": true}}});
    let second = json!({"Responses": {&table: [shard(7, 2)]}, "UnprocessedKeys": {}});
    let (store, replay) = Replay::store([Answer::Http(200, first.to_string()), Answer::Http(200, second.to_string())]);
    assert_eq!(store.count_active_rooms().await.unwrap(), 11, "absent shards count 0");
    let requests = replay.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|(op, _)| op == "BatchGetItem"), "{requests:?}");
    let keys = requests[0].1["RequestItems"][&table]["Keys"].as_array().unwrap();
    assert_eq!(keys.len() as u64, super::rooms::ACTIVE_SHARDS);
    assert_eq!(requests[0].1["RequestItems"][&table]["ConsistentRead"], true, "an exact total");
    assert_eq!(requests[1].1["RequestItems"][&table]["Keys"].as_array().unwrap().len(), rest.len());
}
