//! Atomic counters: one UpdateItem each, safe across any number of concurrent Lambdas.

use aws_sdk_dynamodb::types::ReturnValue;

use super::StoreError;
use super::{key, n, unavailable, Attrs, Store};

/// Account pks: 1, 2, 3 ...
const USER_PK: &str = "counter#user_pk";
/// Room numbers, one space for accounts and rooms alike, so no two ever share one.
const ROOM_NUMBER: &str = "counter#room_number";
/// Room pks: 1, 2, 3 ...
const ROOM_PK: &str = "counter#room_pk";
/// The first room number handed out is ROOM_NUMBER_BASE + 1.
const ROOM_NUMBER_BASE: u64 = 1000;

impl Store {
    pub async fn next_user_pk(&self) -> Result<u64, StoreError> {
        self.increment(&self.tables.users, USER_PK, 0).await
    }

    pub async fn next_room_pk(&self) -> Result<u64, StoreError> {
        self.increment(&self.tables.rooms, ROOM_PK, 0).await
    }

    pub async fn next_room_number(&self) -> Result<u64, StoreError> {
        self.increment(&self.tables.rooms, ROOM_NUMBER, ROOM_NUMBER_BASE).await
    }

    async fn increment(&self, table: &str, counter: &str, start: u64) -> Result<u64, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(table)
            .set_key(Some(key(counter)))
            .update_expression("SET #v = if_not_exists(#v, :start) + :one")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":start", n(start))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        let returned = out.attributes().cloned().unwrap_or_default();
        let value = Attrs::returned_by(&returned, counter).n("value")?;
        if value <= start {
            return Err(StoreError::Corrupt { key: counter.to_owned(), attribute: "value".into() });
        }
        Ok(value)
    }
}
