//! The token table: key = SHA-256 of the token, `expires_at` doubling as the TTL attribute.

use aws_sdk_dynamodb::types::{Put, ReturnValue, TransactWriteItem};

use super::{build_err, get_n, key, n, s, unavailable, Item, LinkedWrite, Store, KEY};
use crate::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub user_pk: u64,
    pub epoch: u64,
    pub expires_at: u64,
    /// When it was issued: account deletion without a password or phone accepts only a fresh
    /// token. Records written before this field existed read as 0, i.e. never fresh.
    pub issued_at: u64,
}

impl TokenRecord {
    fn to_item(&self, hash: &str) -> Item {
        Item::from([
            (KEY.to_owned(), s(hash)),
            ("user_pk".to_owned(), n(self.user_pk)),
            ("epoch".to_owned(), n(self.epoch)),
            ("expires_at".to_owned(), n(self.expires_at)),
            ("issued_at".to_owned(), n(self.issued_at)),
        ])
    }

    fn from_item(item: &Item) -> Self {
        TokenRecord {
            user_pk: get_n(item, "user_pk"),
            epoch: get_n(item, "epoch"),
            expires_at: get_n(item, "expires_at"),
            issued_at: get_n(item, "issued_at"),
        }
    }
}

impl Store {
    pub(crate) fn token_put(&self, hash: &str, record: &TokenRecord) -> Result<TransactWriteItem, ApiError> {
        let put = Put::builder()
            .table_name(&self.tables.tokens)
            .set_item(Some(record.to_item(hash)))
            .condition_expression("attribute_not_exists(id)")
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub async fn put_token(&self, hash: &str, record: &TokenRecord) -> Result<(), ApiError> {
        self.client
            .put_item()
            .table_name(&self.tables.tokens)
            .set_item(Some(record.to_item(hash)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// A new token written together with `linked`: both or neither.
    pub async fn put_token_with(&self, hash: &str, record: &TokenRecord, linked: &LinkedWrite) -> Result<(), ApiError> {
        match self.transact(vec![self.token_put(hash, record)?, linked.item.clone()]).await? {
            Ok(()) => Ok(()),
            Err(r) if r.index == 1 => Err((linked.refused)()),
            Err(_) => Err(ApiError::Contended),
        }
    }

    pub async fn get_token(&self, hash: &str) -> Result<Option<TokenRecord>, ApiError> {
        Ok(self.get(&self.tables.tokens, hash).await?.as_ref().map(TokenRecord::from_item))
    }

    /// Deletes the token and returns what it was, in one round trip.
    pub async fn delete_token(&self, hash: &str) -> Result<Option<TokenRecord>, ApiError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.tables.tokens)
            .set_key(Some(key(hash)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes().map(TokenRecord::from_item))
    }
}
