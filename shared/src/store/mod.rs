//! DynamoDB: the only module that talks to it. Integrity lives in the table, not in memory:
//! uniqueness through claim items written in the same transaction as the record they guard,
//! numbers from atomic counters, optimistic `version` checks on records that change.
//!
//! Every read here is strongly consistent and goes by primary key; no GSI is read on a path
//! that must see its own writes.

pub mod captcha;
pub mod counters;
pub mod lockout;
pub mod rooms;
pub mod sessions;
pub mod tokens;
pub mod users;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;

use crate::config::Tables;
use crate::ApiError;

pub use sessions::{Grant, RefreshRecord, Rotated, Rotation, SessionRecord};
pub use tokens::TokenRecord;
pub use users::{AppleCredentials, Claim, Credentials};

pub type Item = HashMap<String, AttributeValue>;

/// Attribute that is every table's partition key.
pub const KEY: &str = "id";

#[derive(Clone)]
pub struct Store {
    pub(crate) client: Client,
    pub(crate) tables: Tables,
}

impl Store {
    pub fn new(client: Client, tables: Tables) -> Self {
        Store { client, tables }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Runs a transaction. `Ok(Err(r))` names the first item whose condition failed, so the
    /// caller can say which claim was taken.
    /// Transactions that lost a race for the same items (`TransactionConflict`) are retried:
    /// they did not fail, they were merely second.
    pub(crate) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Result<(), Rejected>, ApiError> {
        let mut attempt = 0u32;
        loop {
            let result = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            let err = match result {
                Ok(_) => return Ok(Ok(())),
                Err(err) => err,
            };
            let conflict = match err.as_service_error() {
                Some(aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(e)) => {
                    let reasons = e.cancellation_reasons();
                    if let Some(index) = reasons.iter().position(|r| r.code() == Some("ConditionalCheckFailed")) {
                        return Ok(Err(Rejected { index }));
                    }
                    reasons.iter().any(|r| r.code() == Some("TransactionConflict"))
                }
                _ => false,
            };
            attempt += 1;
            if !conflict || attempt >= 12 {
                return Err(if conflict { ApiError::Contended } else { unavailable(err) });
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }
}

impl Store {
    /// A Put that creates `item` and fails if its key exists: how every claim is taken.
    pub(crate) fn put_new(&self, table: &str, item: Item) -> Result<TransactWriteItem, ApiError> {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id)")
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// A Put that replaces a record only if it still has the `version` it was read at.
    pub(crate) fn put_over_version(
        &self,
        table: &str,
        item: Item,
        version: u64,
    ) -> Result<TransactWriteItem, ApiError> {
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(version))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// One item by key, strongly consistent: every read here must see the writes before it.
    pub(crate) async fn get(&self, table: &str, id: impl Into<String>) -> Result<Option<Item>, ApiError> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }
}

/// A conditional write that must happen in the same transaction as another store write, or
/// not at all (a captcha used up by the login it grants), and what its failed condition means.
#[derive(Clone)]
pub struct LinkedWrite {
    pub(crate) item: TransactWriteItem,
    pub(crate) refused: fn() -> ApiError,
}

/// The item of a transaction whose condition failed.
#[derive(Debug)]
pub(crate) struct Rejected {
    pub index: usize,
}

/// 10, 20, 40 ... 160 ms, each with up to as much again of jitter, so racing writers spread out.
fn backoff(attempt: u32) -> Duration {
    let base = 10u64 << attempt.min(4);
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    Duration::from_millis(base + u64::from(u16::from_le_bytes(b)) % base)
}

/// A conditional write whose condition failing is an expected outcome, not an outage:
/// `Ok(None)` then, `Ok(Some(output))` on success, 503 for anything else.
pub(crate) fn unless_condition_failed<T, E, R>(
    result: Result<T, aws_sdk_dynamodb::error::SdkError<E, R>>,
) -> Result<Option<T>, ApiError>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(err) if err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException") => {
            Ok(None)
        }
        Err(err) => Err(unavailable(err)),
    }
}

/// Any SDK failure: the caller gets 503, the log gets the full chain.
pub(crate) fn unavailable<E: std::error::Error>(err: E) -> ApiError {
    ApiError::Unavailable(DisplayErrorContext(err).to_string())
}

pub(crate) fn build_err(err: aws_sdk_dynamodb::error::BuildError) -> ApiError {
    ApiError::Unavailable(format!("request build: {err}"))
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn get_s(item: &Item, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => String::new(),
    }
}

pub(crate) fn get_opt_s(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

pub(crate) fn get_n(item: &Item, name: &str) -> u64 {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().unwrap_or(0),
        _ => 0,
    }
}

pub(crate) fn key(id: impl Into<String>) -> Item {
    HashMap::from([(KEY.to_owned(), s(id))])
}
