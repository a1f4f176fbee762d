//! The token table: key = SHA-256 of the token, `expires_at` doubling as the TTL attribute.
//! The same table holds the login sessions and their refresh tokens (sessions.rs), under
//! prefixed keys that a bare 64-hex-digit hash can never equal.

use aws_sdk_dynamodb::types::{Put, ReturnValue, TransactWriteItem};

use super::{build_err, get_n, get_s, key, n, s, unavailable, Item, Store, KEY};
use crate::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub user_pk: u64,
    pub epoch: u64,
    pub expires_at: u64,
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
            ("session".to_owned(), s(self.session.as_str())),
        ])
    }

    fn from_item(item: &Item) -> Self {
        TokenRecord {
            user_pk: get_n(item, "user_pk"),
            epoch: get_n(item, "epoch"),
            expires_at: get_n(item, "expires_at"),
            session: get_s(item, "session"),
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
