//! Test harness: a private local API server per test, on its own tables (a unique prefix in
//! the shared DynamoDB Local), reached over real HTTP. `make test` starts the emulators and
//! exports their endpoints.

pub mod aliyun;
pub mod apple;
pub mod conflicts;
pub mod interpose;
pub mod load;
pub mod recorder;
pub mod replay;
pub mod rie;
pub mod stand_in;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use local_api::template::Template;
use serde_json::{json, Value};
use shared::config::Tables;
use shared::{Config, Context};

pub use reqwest::Method;

pub type Item = std::collections::HashMap<String, AttributeValue>;

pub struct TestApi {
    pub base: String,
    pub ctx: Arc<Context>,
    pub http: reqwest::Client,
}

/// An HTTP answer: status, headers and the body parsed as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Answer {
    pub fn str(&self, field: &str) -> &str {
        self.body[field].as_str().unwrap_or_else(|| panic!("{field} is not a string in {}", self.body))
    }

    /// A FAIL envelope whose `code` equals the HTTP status.
    #[track_caller]
    pub fn assert_fail(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["status"], "FAIL", "{}", self.body);
        assert_eq!(self.body["code"], status.to_string(), "{}", self.body);
        assert!(self.body["msg"].as_str().is_some_and(|m| !m.is_empty()), "{}", self.body);
        assert!(self.body["error"].as_str().is_some_and(|m| !m.is_empty()), "{}", self.body);
        self
    }

    #[track_caller]
    pub fn assert_success(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["status"], "SUCCESS", "{}", self.body);
        assert_eq!(self.body["code"], status.to_string(), "{}", self.body);
        self
    }
}

pub const USER_FIELDS: &[&str] = &[
    "pk",
    "username",
    "password",
    "nickname",
    "sex",
    "age",
    "email",
    "phone",
    "country",
    "province",
    "city",
    "career",
    "login_type",
    "img",
    "img_thumb",
    "date_joined",
    "roomid",
    "token",
];

/// Every user field of API.md present, a JSON string, `password` empty, token 32 hex.
#[track_caller]
pub fn assert_user_shape(body: &Value) {
    for field in USER_FIELDS {
        assert!(body[field].is_string(), "{field} must be a string in {body}");
    }
    assert_eq!(body["password"], "", "password must never leave the server");
    let token = body["token"].as_str().unwrap();
    assert!(token.len() == 32 && token.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{token}");
    let date = body["date_joined"].as_str().unwrap();
    assert!(date.len() == 27 && date.ends_with('Z') && date.as_bytes()[19] == b'.', "{date}");
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fresh, unique name for this process and call: usernames, table prefixes.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}x{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A bucket of its own in moto's S3 (the stack's), named after a test's table prefix.
pub fn local_avatars(prefix: &str) -> shared::config::AvatarConfig {
    let moto = std::env::var("AWS_ENDPOINT_URL_S3").expect("AWS_ENDPOINT_URL_S3 is set by `make test` (moto's S3)");
    shared::config::AvatarConfig::local(prefix, &moto)
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok(),
        "AWS_ENDPOINT_URL_DYNAMODB is not set: run the tests with `make test`, which starts DynamoDB Local"
    );
    shared::tls::sdk_loader().load().await
}

impl TestApi {
    pub async fn start() -> Self {
        Self::with_config(|_| {}).await
    }

    /// A server with `tweak` applied to the default config (short TTLs, lockouts...).
    pub async fn with_config(tweak: impl FnOnce(&mut Config)) -> Self {
        let prefix = unique("t");
        let mut config =
            Config { tables: Tables::local(&prefix), avatars: local_avatars(&prefix), ..Config::default() };
        tweak(&mut config);
        let ctx = Context::new(config, &sdk_config().await);
        Self::serve(ctx).await
    }

    pub async fn serve(ctx: Context) -> Self {
        // The suite's log lines go to stdout like a function's, and `make test` scans them
        // (scripts/scan-logs.sh): no phone number, token, code or password may be in one.
        shared::context::init_tracing();
        let template = Template::load(&Template::default_path()).expect("template.yaml");
        let setup = local_api::tables::setup_client(ctx.store.client());
        local_api::tables::create_all(&setup, &template, ctx.store.tables()).await.expect("create tables");
        local_api::tables::create_bucket(ctx.avatars.client(), ctx.avatars.bucket()).await.expect("create bucket");
        Self::serve_without_setup(ctx).await
    }

    /// A server on tables and a bucket that exist already (another server of the test made
    /// them; a fault test's own clients may not reach them).
    pub async fn serve_without_setup(ctx: Context) -> Self {
        shared::context::init_tracing();
        let ctx = Arc::new(ctx);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(local_api::server::serve(Arc::clone(&ctx), listener));
        TestApi { base, ctx, http: reqwest::Client::new() }
    }

    pub fn ddb(&self) -> &Client {
        self.ctx.store.client()
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let bytes = body.map(|b| b.to_string().into_bytes());
        self.send_raw(method, path, bytes, &[]).await
    }

    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("local server answers");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let raw = resp.bytes().await.unwrap().to_vec();
        let body = if raw.is_empty() { Value::Null } else { serde_json::from_slice(&raw).expect("JSON body") };
        Answer { status, headers, body, raw }
    }

    /// A request as if from `ip`: the local server takes the caller's address from
    /// `X-Forwarded-For` (API Gateway takes it from the connection), so one test can be many
    /// clients.
    pub async fn send_from(&self, ip: &str, method: Method, path: &str, body: Option<Value>) -> Answer {
        let bytes = body.map(|b| b.to_string().into_bytes());
        self.send_raw(method, path, bytes, &[("x-forwarded-for", ip)]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    /// Registers `username` with password `password123` and returns the answer body.
    pub async fn register(&self, username: &str) -> Value {
        let a =
            self.post("/users/", json!({"username": username, "password": "password123", "nickname": "nick"})).await;
        a.assert_success(200);
        a.body
    }

    pub async fn scan(&self, table: &str) -> Vec<Item> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .ddb()
                .scan()
                .table_name(table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            items.extend(out.items().iter().cloned());
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                return items;
            }
        }
    }

    /// Every item of every table with all its attributes, as sorted text: equal snapshots
    /// mean nothing was written. Number counters are left out: a refused creation may have
    /// drawn a number (numbers are unique, not gapless), but it leaves no record behind.
    pub async fn all_items(&self) -> Vec<String> {
        let t = self.ctx.store.tables().clone();
        let mut out = Vec::new();
        for table in [t.users, t.tokens, t.rooms] {
            for item in self.scan(&table).await {
                if matches!(item.get("id"), Some(AttributeValue::S(id)) if id.starts_with("counter#")) {
                    continue;
                }
                let sorted: std::collections::BTreeMap<_, _> = item.iter().map(|(k, v)| (k, Sorted(v))).collect();
                out.push(format!("{table}: {sorted:?}"));
            }
        }
        out.sort();
        out
    }
}

/// An attribute value printed as its `Debug`, but with map keys sorted at every depth (a
/// `HashMap`'s own order differs between two reads of the same item).
struct Sorted<'a>(&'a AttributeValue);

impl std::fmt::Debug for Sorted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            AttributeValue::M(map) => {
                let sorted: std::collections::BTreeMap<_, _> = map.iter().map(|(k, v)| (k, Sorted(v))).collect();
                f.debug_tuple("M").field(&sorted).finish()
            }
            other => other.fmt(f),
        }
    }
}

/// Creates a secret in moto's Secrets Manager (the stack's) and returns its ARN.
pub async fn create_secret(name: &str, value: &str) -> String {
    let client = aws_sdk_secretsmanager::Client::new(&sdk_config().await);
    let out = client.create_secret().name(name).secret_string(value).send().await.expect("moto create_secret");
    out.arn().expect("an ARN").to_owned()
}

/// A mainland mobile number no other test (or process) uses, as typed and in E.164.
pub fn unique_phone() -> (String, String) {
    let n = (std::process::id() % 9_999) * 10_000 + NEXT.fetch_add(1, Ordering::Relaxed) % 10_000;
    let national = format!("139{n:08}");
    let e164 = format!("+86{national}");
    (national, e164)
}

/// The SMS moto recorded for `phone_e164`, oldest first, exactly as the phone would show them.
pub async fn sms_for(phone_e164: &str) -> Vec<String> {
    let moto = std::env::var("MOTO_URL").expect("MOTO_URL is set by `make test`");
    let data: Value = reqwest::get(format!("{moto}/moto-api/data.json")).await.unwrap().json().await.unwrap();
    // Fail loudly if moto's layout changes: an empty list must mean "nothing sent", never "not
    // found", or every "no SMS went out" assertion would pass vacuously.
    let sent = data["sns"]["SMS"].as_array().unwrap_or_else(|| panic!("moto's data.json has no sns.SMS list: {data}"));
    sent.iter()
        .filter(|m| m["phone_number"] == phone_e164)
        .map(|m| m["message"].as_str().unwrap_or_else(|| panic!("SMS without message: {m}")).to_owned())
        .collect()
}

/// The 6-digit code of the latest SMS to `phone_e164`.
pub async fn latest_code(phone_e164: &str) -> String {
    let messages = sms_for(phone_e164).await;
    let last = messages.last().unwrap_or_else(|| panic!("no SMS to {phone_e164}"));
    let digits: String = last.chars().filter(char::is_ascii_digit).collect();
    assert!(digits.len() >= 6, "{last}");
    digits[..6].to_owned()
}
