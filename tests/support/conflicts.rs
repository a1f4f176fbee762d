//! DynamoDB's transaction isolation, which DynamoDB Local does not reproduce: DynamoDB cancels a
//! `TransactWriteItems` with `TransactionConflict` when another transaction in flight holds one
//! of its items, where DynamoDB Local makes it wait. This proxy sits between the SDK and
//! DynamoDB Local, forwards every request, and answers a transaction that touches an item of an
//! in-flight one exactly as DynamoDB does (400 `TransactionCanceledException`, the conflicting
//! item's reason `TransactionConflict`), so tests see the conflicts a hot item causes.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};

use crate::stand_in::{read_raw, RawRequest};

pub struct ConflictProxy {
    pub url: String,
    written: Written,
}

type Locks = Arc<Mutex<HashSet<String>>>;
/// `table/id` -> committed transactions that wrote or checked it.
type Written = Arc<Mutex<HashMap<String, usize>>>;

impl ConflictProxy {
    /// A proxy in front of `upstream` (DynamoDB Local's URL).
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let locks: Locks = Arc::default();
        let written: Written = Arc::default();
        let http = reqwest::Client::new();
        let w = written.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, upstream.clone(), http.clone(), locks.clone(), w.clone()));
            }
        });
        ConflictProxy { url, written }
    }

    /// The item most committed transactions touched since the last call, and how many did.
    pub fn hottest(&self) -> (String, usize) {
        let written = std::mem::take(&mut *self.written.lock().unwrap());
        written.into_iter().max_by_key(|(_, n)| *n).unwrap_or_default()
    }
}

/// One request per connection (the answer says `Connection: close`).
async fn serve(mut stream: TcpStream, upstream: String, http: reqwest::Client, locks: Locks, written: Written) {
    let Some(RawRequest { target: path, headers, body, .. }) = read_raw(&mut stream).await else { return };
    let target = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("x-amz-target")).map(|(_, v)| v.as_str());
    let keys = if target == Some("DynamoDB_20120810.TransactWriteItems") { item_keys(&body) } else { Vec::new() };
    let conflict = {
        let mut locked = locks.lock().unwrap();
        let conflict = keys.iter().position(|k| locked.contains(k));
        if conflict.is_none() {
            locked.extend(keys.iter().cloned());
        }
        conflict
    };
    if let Some(conflict) = conflict {
        let reasons: Vec<Value> = (0..keys.len())
            .map(|i| if i == conflict { json!({"Code": "TransactionConflict"}) } else { json!({"Code": "None"}) })
            .collect();
        let answer = json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": "Transaction cancelled, please refer cancellation reasons for specific reasons",
            "CancellationReasons": reasons,
        });
        return respond(&mut stream, 400, answer.to_string().as_bytes()).await;
    }
    let held = keys;
    let mut req = http.post(format!("{upstream}{path}")).body(body);
    for (name, value) in &headers {
        if !["host", "content-length", "connection"].iter().any(|h| name.eq_ignore_ascii_case(h)) {
            req = req.header(name, value);
        }
    }
    let answer = req.send().await;
    {
        let mut locked = locks.lock().unwrap();
        for k in &held {
            locked.remove(k);
        }
    }
    match answer {
        Ok(a) => {
            let status = a.status().as_u16();
            if status == 200 {
                let mut written = written.lock().unwrap();
                for k in held {
                    *written.entry(k).or_default() += 1;
                }
            }
            let bytes = a.bytes().await.unwrap_or_default();
            respond(&mut stream, status, &bytes).await;
        }
        Err(_) => respond(&mut stream, 500, b"{}").await,
    }
}

/// `table/id` of every item of a TransactWriteItems body.
fn item_keys(body: &[u8]) -> Vec<String> {
    let doc: Value = serde_json::from_slice(body).unwrap_or_default();
    let items = doc["TransactItems"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .map(|item| {
            let (_, op) = item.as_object().and_then(|o| o.iter().next()).expect("one operation per item");
            let key = if op["Item"].is_object() { &op["Item"]["id"] } else { &op["Key"]["id"] };
            format!("{}/{}", op["TableName"].as_str().unwrap_or_default(), key)
        })
        .collect()
}

/// A DynamoDB answer on a raw connection (one request per connection).
pub(crate) async fn respond(stream: &mut TcpStream, status: u16, body: &[u8]) {
    crate::stand_in::write_answer(stream, status, "application/x-amz-json-1.0", body).await;
}
