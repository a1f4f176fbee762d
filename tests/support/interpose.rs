//! A proxy between the server's DynamoDB client and DynamoDB Local that lets a test act at an
//! exact point of a request: a rule names the requests it takes (operations, and a text their
//! JSON body contains, such as `session#`) and either fails them as DynamoDB does when it is
//! down (500 `InternalServerError`, every attempt of the SDK's retry), or first runs a step of
//! the test (a racing request) and then forwards them. Everything else is forwarded untouched.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use serde_json::json;
use shared::config::Tables;
use shared::{Config, Context};
use tokio::net::{TcpListener, TcpStream};

use crate::conflicts::respond;
use crate::stand_in::{read_raw, RawRequest};
use crate::{sdk_config, unique, TestApi};

/// The operations that write.
pub const WRITES: &[&str] = &["PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"];

type Step = Pin<Box<dyn Future<Output = ()> + Send>>;

enum Act {
    /// Answered 500 until [`Interposer::heal`].
    Fail,
    /// The step runs once, before the first matching request is forwarded.
    Before(Option<Step>),
}

struct Rule {
    operations: Vec<String>,
    contains: String,
    act: Act,
}

impl Rule {
    fn matches(&self, operation: &str, body: &str) -> bool {
        self.operations.iter().any(|o| o == operation) && body.contains(&self.contains)
    }
}

#[derive(Clone, Default)]
pub struct Interposer {
    rules: Arc<Mutex<Vec<Rule>>>,
    /// Requests a `Fail` rule answered.
    failed: Arc<Mutex<Vec<String>>>,
}

impl Interposer {
    /// A server whose DynamoDB requests all pass through a new interposer (config tweaked).
    pub async fn serve(tweak: impl FnOnce(&mut Config)) -> (TestApi, Interposer) {
        let interposer = Interposer::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("AWS_ENDPOINT_URL_DYNAMODB");
        let http = reqwest::Client::new();
        let serving = interposer.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serving.clone().relay(stream, upstream.clone(), http.clone()));
            }
        });
        let sdk = sdk_config().await;
        let mut config = Config { tables: Tables::local(&unique("ip")), ..Config::default() };
        tweak(&mut config);
        let mut ctx = Context::new(config, &sdk);
        let dynamodb = shared::deadlines::dynamodb(&sdk).to_builder().endpoint_url(url).build();
        ctx.store = shared::store::Store::new(aws_sdk_dynamodb::Client::from_conf(dynamodb), ctx.config.tables.clone());
        (TestApi::serve(ctx).await, interposer)
    }

    /// From now on, `operations` whose body contains `contains` fail (500) until `heal`.
    pub fn fail(&self, operations: &[&str], contains: &str) {
        self.push(operations, contains, Act::Fail);
    }

    /// The first request of `operations` whose body contains `contains` waits for `step`, then
    /// goes on to DynamoDB.
    pub fn before(&self, operations: &[&str], contains: &str, step: impl Future<Output = ()> + Send + 'static) {
        self.push(operations, contains, Act::Before(Some(Box::pin(step))));
    }

    /// Every rule removed; returns the operations the failing rules answered.
    pub fn heal(&self) -> Vec<String> {
        self.rules.lock().unwrap().clear();
        std::mem::take(&mut *self.failed.lock().unwrap())
    }

    fn push(&self, operations: &[&str], contains: &str, act: Act) {
        let operations = operations.iter().map(|o| (*o).to_owned()).collect();
        self.rules.lock().unwrap().push(Rule { operations, contains: contains.to_owned(), act });
    }

    async fn relay(self, mut stream: TcpStream, upstream: String, http: reqwest::Client) {
        let Some(RawRequest { target: path, headers, body, .. }) = read_raw(&mut stream).await else { return };
        let target = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("x-amz-target")).map(|(_, v)| v.as_str());
        let operation = target.unwrap_or_default().rsplit('.').next().unwrap_or_default().to_owned();
        let text = String::from_utf8_lossy(&body).into_owned();
        let (fail, step) = {
            let mut rules = self.rules.lock().unwrap();
            let mut fail = false;
            let mut step = None;
            for rule in rules.iter_mut().filter(|r| r.matches(&operation, &text)) {
                match &mut rule.act {
                    Act::Fail => fail = true,
                    Act::Before(s) => step = step.or_else(|| s.take()),
                }
            }
            (fail, step)
        };
        if fail {
            self.failed.lock().unwrap().push(operation);
            let answer = json!({
                "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                "message": "Internal server error (interposed)",
            });
            return respond(&mut stream, 500, answer.to_string().as_bytes()).await;
        }
        if let Some(step) = step {
            step.await;
        }
        let mut req = http.post(format!("{upstream}{path}")).body(body);
        for (name, value) in &headers {
            if !["host", "content-length", "connection"].iter().any(|h| name.eq_ignore_ascii_case(h)) {
                req = req.header(name, value);
            }
        }
        match req.send().await {
            Ok(a) => {
                let status = a.status().as_u16();
                let bytes = a.bytes().await.unwrap_or_default();
                respond(&mut stream, status, &bytes).await;
            }
            Err(_) => respond(&mut stream, 500, b"{}").await,
        }
    }
}
