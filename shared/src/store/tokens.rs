//! The token table: key = SHA-256 of the token, `expires_at` doubling as the TTL attribute.
//! The same table holds the login sessions and their refresh tokens (sessions.rs), under
//! prefixed keys that a bare 64-hex-digit hash can never equal.

use aws_sdk_dynamodb::types::{Put, ReturnValue, TransactWriteItem};

use super::StoreError;
use super::{build_err, key, n, s, unavailable, Attrs, Item, Store, KEY};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub user_pk: u64,
    pub epoch: u64,
    pub expires_at: u64,
    /// When it was issued: account deletion without a password or phone accepts only a fresh
    /// token. Records written before this field existed read as 0, i.e. never fresh.
    pub issued_at: u64,
    /// The login session the token belongs to (empty on tokens issued before sessions
    /// existed). Only logout reads it: checking a token never looks at the session.
    pub session: String,
}

impl TokenRecord {
    fn to_item(&self, hash: &str) -> Item {
        Item::from([
            (KEY.to_owned(), s(hash)),
            ("user_pk".to_owned(), n(self.user_pk)),
            ("epoch".to_owned(), n(self.epoch)),
            ("expires_at".to_owned(), n(self.expires_at)),
            ("issued_at".to_owned(), n(self.issued_at)),
            ("session".to_owned(), s(self.session.as_str())),
        ])
    }
}

impl TokenRecord {
    /// `key` is the token's hash: a deleted record's returned attributes do not carry it.
    fn read(item: &Item, key: &str) -> Result<Self, StoreError> {
        let a = Attrs::returned_by(item, key);
        Ok(TokenRecord {
            user_pk: a.n("user_pk")?,
            epoch: a.n("epoch")?,
            expires_at: a.n("expires_at")?,
            issued_at: a.opt_n("issued_at")?.unwrap_or(0),
            session: a.opt_s("session")?.unwrap_or_default(),
        })
    }
}

impl Store {
    pub(crate) fn token_put(&self, hash: &str, record: &TokenRecord) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.tables.tokens)
            .set_item(Some(record.to_item(hash)))
            .condition_expression("attribute_not_exists(id)")
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub async fn get_token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.get(&self.tables.tokens, hash).await?.map(|item| TokenRecord::read(&item, hash)).transpose()
    }

    /// Deletes the token and returns what it was, in one round trip.
    pub async fn delete_token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.tables.tokens)
            .set_key(Some(key(hash)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        out.attributes().map(|item| TokenRecord::read(item, hash)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_record_needs_its_account_epoch_and_expiry() {
        let record = TokenRecord { user_pk: 7, epoch: 3, expires_at: 99, issued_at: 50, session: "s1".into() };
        let hash = "ab".repeat(32);
        assert_eq!(TokenRecord::read(&record.to_item(&hash), &hash).unwrap(), record);
        for attribute in ["user_pk", "epoch", "expires_at"] {
            let mut item = record.to_item(&hash);
            item.remove(attribute);
            let err = TokenRecord::read(&item, &hash).unwrap_err();
            assert!(matches!(&err, StoreError::Corrupt { attribute: a, .. } if a == attribute), "{err:?}");
            assert!(!err.to_string().contains(&hash[..16]), "the log never holds a token's key: {err}");
        }
        let mut old = record.to_item(&hash);
        old.remove("issued_at");
        assert_eq!(TokenRecord::read(&old, &hash).unwrap().issued_at, 0, "older records: never fresh");
    }
}
