//! DynamoDB: the only module that talks to it. Integrity lives in the table, not in memory:
//! uniqueness through claim items written in the same transaction as the record they guard,
//! numbers from atomic counters, optimistic `version` checks on records that change.
//!
//! Every read here is strongly consistent and goes by primary key; no GSI is read on a path
//! that must see its own writes.

pub mod captcha;
pub mod counters;
pub mod deletion;
pub mod error;
pub mod import;
pub mod lockout;
#[cfg(test)]
mod replay;
pub mod rooms;
pub mod sessions;
pub mod tokens;
pub mod users;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem};
use aws_sdk_dynamodb::Client;

use crate::config::Tables;
use crate::deadlines::{CONFLICT_ATTEMPTS, TRANSACT_CONFLICT_BUDGET};

use counters::IdBlocks;
pub use error::{ClaimKind, SendLimit, StoreError};
pub use sessions::{Expect, Grant, RefreshRecord, Rotated, Rotation, SessionRecord};
pub use tokens::TokenRecord;
pub use users::{AppleCredentials, AppleToken, Claim, Credentials};

pub type Item = HashMap<String, AttributeValue>;

/// Attribute that is every table's partition key.
pub const KEY: &str = "id";

#[derive(Clone)]
pub struct Store {
    pub(crate) client: Client,
    pub(crate) tables: Tables,
    /// The number blocks this sandbox reserved (counters.rs), shared by its clones.
    pub(crate) ids: Arc<IdBlocks>,
}

impl Store {
    pub fn new(client: Client, tables: Tables) -> Self {
        Store { client, tables, ids: Arc::new(IdBlocks::new(crate::config::ID_BLOCK_DEFAULT)) }
    }

    /// Numbers reserved `size` at a time (`ID_BLOCK_SIZE`).
    pub fn with_id_block(self, size: u64) -> Self {
        Store { ids: Arc::new(IdBlocks::new(size)), ..self }
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
    pub(crate) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Result<(), Rejected>, StoreError> {
        let started = tokio::time::Instant::now();
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
            if conflict {
                crate::metrics::count(crate::metrics::Metric::TransactionConflicts);
            }
            attempt += 1;
            if !conflict {
                return Err(unavailable(err));
            }
            // Bounded in time as well as in number (deadlines.rs has the arithmetic).
            let pause = backoff(attempt);
            if attempt >= CONFLICT_ATTEMPTS || started.elapsed() + pause > TRANSACT_CONFLICT_BUDGET {
                return Err(StoreError::Contended);
            }
            tokio::time::sleep(pause).await;
        }
    }
}

impl Store {
    /// A Put that creates `item` and fails if its key exists: how every claim is taken.
    pub(crate) fn put_new(&self, table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
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
    ) -> Result<TransactWriteItem, StoreError> {
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
    pub(crate) async fn get(&self, table: &str, id: impl Into<String>) -> Result<Option<Item>, StoreError> {
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

impl Store {
    /// Items by key (at most 100), strongly consistent, in one BatchGetItem; keys DynamoDB
    /// leaves unprocessed (throttling) are asked for again after a backoff, a bounded number of
    /// times (the request deadline bounds it too). Items that do not exist are not returned.
    pub(crate) async fn batch_get(&self, table: &str, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = self.batch_get_tables(HashMap::from([(table.to_owned(), keys)])).await?;
        Ok(found.remove(table).unwrap_or_default())
    }

    /// `batch_get` over several tables at once (one round trip for items of two tables): the
    /// items found, by table.
    pub(crate) async fn batch_get_tables(
        &self,
        mut keys: HashMap<String, Vec<Item>>,
    ) -> Result<HashMap<String, Vec<Item>>, StoreError> {
        let mut found: HashMap<String, Vec<Item>> = HashMap::with_capacity(keys.len());
        let mut attempt = 0;
        keys.retain(|_, k| !k.is_empty());
        while !keys.is_empty() {
            let mut request = self.client.batch_get_item();
            for (table, keys) in keys {
                let wanted = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(build_err)?;
                request = request.request_items(table, wanted);
            }
            let out = request.send().await.map_err(unavailable)?;
            for (table, items) in out.responses().into_iter().flatten() {
                found.entry(table.clone()).or_default().extend(items.iter().cloned());
            }
            keys = out
                .unprocessed_keys()
                .into_iter()
                .flatten()
                .map(|(table, k)| (table.clone(), k.keys().to_vec()))
                .filter(|(_, k)| !k.is_empty())
                .collect();
            attempt += 1;
            if !keys.is_empty() {
                if attempt >= 8 {
                    return Err(StoreError::Unavailable("batch read kept coming back unprocessed".into()));
                }
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
        Ok(found)
    }
}

/// A conditional write that must happen in the same transaction as another store write, or
/// not at all (a captcha used up by the login it grants), and what its failed condition means.
#[derive(Clone)]
pub struct LinkedWrite {
    pub(crate) item: TransactWriteItem,
    pub(crate) refused: fn() -> StoreError,
}

/// What a refused transaction means when its failed item is `linked[index]` (`None`: an item
/// before them, whose failure means something changed meanwhile).
pub(crate) fn refusal_of(linked: &[LinkedWrite], index: Option<usize>) -> StoreError {
    match index.and_then(|i| linked.get(i)) {
        Some(l) => (l.refused)(),
        None => StoreError::Contended,
    }
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
) -> Result<Option<T>, StoreError>
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
pub(crate) fn unavailable<E: std::error::Error>(err: E) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(err).to_string())
}

pub(crate) fn build_err(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("request build: {err}"))
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Reads the attributes of one item. Keys, numbers and versions every item of its kind is
/// written with are required: a damaged item (a manual edit, a half-migrated record) fails
/// with `CorruptItem` naming its key and the attribute, never read as user 0 or epoch 0.
/// Only optional profile text reads as "" when absent ([`Attrs::text`]).
pub(crate) struct Attrs<'a> {
    item: &'a Item,
    key: &'a str,
}

impl<'a> Attrs<'a> {
    /// An item as stored, which carries its key.
    pub(crate) fn of(item: &'a Item) -> Self {
        let key = match item.get(KEY) {
            Some(AttributeValue::S(id)) => id.as_str(),
            _ => "(no key)",
        };
        Attrs { item, key }
    }

    /// Attributes returned by a write (`ReturnValues`), which do not carry the key.
    pub(crate) fn returned_by(item: &'a Item, key: &'a str) -> Self {
        Attrs { item, key }
    }

    fn corrupt(&self, attribute: &str) -> StoreError {
        StoreError::Corrupt { key: loggable(self.key), attribute: loggable(attribute) }
    }

    /// A required non-negative whole number.
    pub(crate) fn n(&self, name: &str) -> Result<u64, StoreError> {
        self.opt_n(name)?.ok_or_else(|| self.corrupt(name))
    }

    /// A number that may be absent (a count not started yet); present, it must be one.
    pub(crate) fn opt_n(&self, name: &str) -> Result<Option<u64>, StoreError> {
        match self.item.get(name) {
            None => Ok(None),
            Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|_| self.corrupt(name)),
            Some(_) => Err(self.corrupt(name)),
        }
    }

    /// A required count that an `ADD` of -1 may legitimately have taken below zero (a give-back
    /// that crossed a reset): below zero reads as 0; absent or not a number is still corrupt.
    pub(crate) fn count(&self, name: &str) -> Result<u64, StoreError> {
        match self.item.get(name) {
            Some(AttributeValue::N(v)) => match v.parse::<i64>() {
                Ok(c) => Ok(u64::try_from(c).unwrap_or(0)),
                Err(_) => self.n(name),
            },
            _ => Err(self.corrupt(name)),
        }
    }

    /// A required, non-empty string (a name that is also a key elsewhere).
    pub(crate) fn s(&self, name: &str) -> Result<String, StoreError> {
        match self.item.get(name) {
            Some(AttributeValue::S(v)) if !v.is_empty() => Ok(v.clone()),
            _ => Err(self.corrupt(name)),
        }
    }

    /// A string that may be absent (a password hash an SMS account never had).
    pub(crate) fn opt_s(&self, name: &str) -> Result<Option<String>, StoreError> {
        match self.item.get(name) {
            None => Ok(None),
            Some(AttributeValue::S(v)) => Ok(Some(v.clone())),
            Some(_) => Err(self.corrupt(name)),
        }
    }

    /// Optional profile text: absent is "", the one default left.
    pub(crate) fn text(&self, name: &str) -> Result<String, StoreError> {
        Ok(self.opt_s(name)?.unwrap_or_default())
    }

    pub(crate) fn bool(&self, name: &str) -> Result<bool, StoreError> {
        match self.item.get(name) {
            Some(AttributeValue::Bool(v)) => Ok(*v),
            _ => Err(self.corrupt(name)),
        }
    }

    /// A string set that may be absent (DynamoDB stores no empty set).
    pub(crate) fn opt_ss(&self, name: &str) -> Result<Vec<String>, StoreError> {
        match self.item.get(name) {
            None => Ok(Vec::new()),
            Some(AttributeValue::Ss(v)) => Ok(v.clone()),
            Some(_) => Err(self.corrupt(name)),
        }
    }

    /// A number set that may be absent (DynamoDB stores no empty set).
    pub(crate) fn opt_ns(&self, name: &str) -> Result<Vec<u64>, StoreError> {
        match self.item.get(name) {
            None => Ok(Vec::new()),
            Some(AttributeValue::Ns(v)) => v.iter().map(|p| p.parse().map_err(|_| self.corrupt(name))).collect(),
            Some(_) => Err(self.corrupt(name)),
        }
    }

    /// Holds the item's key to the record's own number: `user#7` must say `pk` 7.
    pub(crate) fn key_is(&self, expected: &str) -> Result<(), StoreError> {
        if self.key == expected {
            Ok(())
        } else {
            Err(self.corrupt(KEY))
        }
    }
}

/// A key or attribute name as it may appear in a log line. Names of accounts and rooms are
/// kept (they are what an operator repairs); kinds whose name part is a phone, a third-party
/// id, an address or a token hash keep only their kind and a short digest to match items by.
fn loggable(name: &str) -> String {
    const PLAIN: [&str; 10] =
        ["user", "username", "room", "alias", "owner", "lockout", "counter", "stats", "revocations", "(no key)"];
    let kind = name.split_once('#').map_or(name, |(kind, _)| kind);
    if PLAIN.contains(&kind) || !name.contains('#') && name.len() < 32 {
        return name.to_owned();
    }
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    let kind = if name.contains('#') { kind } else { "token" };
    format!("{kind}#~{}", &digest[..12])
}

pub(crate) fn key(id: impl Into<String>) -> Item {
    HashMap::from([(KEY.to_owned(), s(id))])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
    }

    fn corrupt_attribute(err: StoreError) -> (String, String) {
        match err {
            StoreError::Corrupt { key, attribute } => (key, attribute),
            other => panic!("expected CorruptItem, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_or_malformed_number_is_corrupt_not_zero() {
        let it = item(&[(KEY, s("user#7")), ("pk", n(7)), ("bad", s("7")), ("neg", AttributeValue::N("-1".into()))]);
        let a = Attrs::of(&it);
        assert_eq!(a.n("pk").unwrap(), 7);
        assert_eq!(corrupt_attribute(a.n("version").unwrap_err()), ("user#7".into(), "version".into()));
        assert_eq!(corrupt_attribute(a.n("bad").unwrap_err()).1, "bad", "a number stored as a string");
        assert_eq!(corrupt_attribute(a.n("neg").unwrap_err()).1, "neg", "no negative pk or epoch");
        assert_eq!(a.opt_n("absent").unwrap(), None);
        assert!(a.opt_n("bad").is_err(), "optional, but present it must be a number");
        assert_eq!(a.count("neg").unwrap(), 0, "a count given back below a reset");
        assert_eq!(a.count("pk").unwrap(), 7);
        assert!(a.count("bad").is_err() && a.count("version").is_err());
    }

    #[test]
    fn required_strings_are_present_and_non_empty_profile_text_defaults_to_empty() {
        let it = item(&[(KEY, s("username#al")), ("username", s("al")), ("empty", s("")), ("num", n(1))]);
        let a = Attrs::of(&it);
        assert_eq!(a.s("username").unwrap(), "al");
        assert!(a.s("empty").is_err());
        assert!(a.s("absent").is_err());
        assert_eq!(a.text("absent").unwrap(), "");
        assert!(a.text("num").is_err(), "text of the wrong type is corrupt too");
        assert_eq!(a.opt_s("absent").unwrap(), None);
    }

    #[test]
    fn the_key_must_match_the_record() {
        let it = item(&[(KEY, s("user#7"))]);
        assert!(Attrs::of(&it).key_is("user#7").is_ok());
        assert_eq!(corrupt_attribute(Attrs::of(&it).key_is("user#8").unwrap_err()).1, KEY);
    }

    #[test]
    fn logs_name_accounts_and_rooms_but_never_phones_ids_or_token_hashes() {
        for plain in ["user#7", "username#alice", "room#3", "alias#1262", "owner#7", "counter#user_pk", "version"] {
            assert_eq!(loggable(plain), plain);
        }
        let token_hash = "ab".repeat(32);
        for hidden in ["phone#+8613800138000", "captcha#+8613800138000", "sns#1#oXyZ", "f#10.0.0.1", &token_hash] {
            let shown = loggable(hidden);
            assert!(!shown.contains("138") && !shown.contains("oXyZ") && !shown.contains("10.0"), "{shown}");
            assert!(!shown.contains(&token_hash[..16]), "{shown}");
            assert_eq!(shown.len(), shown.split_once('~').unwrap().0.len() + 13, "{shown}");
        }
        assert_ne!(loggable("phone#+8613800138000"), loggable("phone#+8613800138001"), "items stay distinguishable");
    }
}
