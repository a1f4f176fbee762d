//! Numbers that are unique and never reused: account pks, room pks, and the room-number space
//! accounts and rooms share. A counter item per kind would be written by every sign-up and
//! every room creation: one item, so one partition's ~1,000 writes/s for the whole API. Instead
//! each sandbox reserves a block of `block` numbers with one UpdateItem and hands them out from
//! memory: one counter write per block. Numbers stay unique (the counter only goes up, every
//! block is reserved by exactly one UpdateItem) but are neither gapless (the rest of a block dies
//! with its sandbox) nor in creation order across sandboxes.

use aws_sdk_dynamodb::types::ReturnValue;
use tokio::sync::Mutex;

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

/// The unused rest of the block this sandbox reserved last: `next..=last`, empty when
/// `next > last`.
#[derive(Debug)]
struct Block {
    next: u64,
    last: u64,
}

/// The blocks of one sandbox (or of the local server, which serves many requests at once): each
/// behind an async mutex held across the refill, so concurrent requests never take one number
/// twice and never reserve two blocks where one is enough.
#[derive(Debug)]
pub struct IdBlocks {
    size: u64,
    user_pk: Mutex<Block>,
    room_pk: Mutex<Block>,
    room_number: Mutex<Block>,
}

impl IdBlocks {
    pub fn new(size: u64) -> Self {
        let empty = || Mutex::new(Block { next: 1, last: 0 });
        IdBlocks { size: size.max(1), user_pk: empty(), room_pk: empty(), room_number: empty() }
    }
}

impl Store {
    pub async fn next_user_pk(&self) -> Result<u64, StoreError> {
        self.next_id(&self.ids.user_pk, &self.tables.users, USER_PK, 0).await
    }

    pub async fn next_room_pk(&self) -> Result<u64, StoreError> {
        self.next_id(&self.ids.room_pk, &self.tables.rooms, ROOM_PK, 0).await
    }

    pub async fn next_room_number(&self) -> Result<u64, StoreError> {
        self.next_id(&self.ids.room_number, &self.tables.rooms, ROOM_NUMBER, ROOM_NUMBER_BASE).await
    }

    /// Raises the counters so that every number handed out from now on is above the given ones
    /// (the import's maxima: account pks, room pks, room numbers of accounts and rooms). A
    /// counter already higher stays. Blocks reserved before (by a sandbox already running) are
    /// not affected: docs/import.md says why the import runs before traffic arrives.
    pub async fn raise_counters(&self, user_pk: u64, room_pk: u64, room_number: u64) -> Result<(), StoreError> {
        let raises = [
            (&self.tables.users, USER_PK, user_pk),
            (&self.tables.rooms, ROOM_PK, room_pk),
            // Below the base the counter's own start is already above.
            (&self.tables.rooms, ROOM_NUMBER, if room_number > ROOM_NUMBER_BASE { room_number } else { 0 }),
        ];
        for (table, counter, at_least) in raises {
            if at_least == 0 {
                continue;
            }
            let result = self
                .client
                .update_item()
                .table_name(table)
                .set_key(Some(key(counter)))
                .update_expression("SET #v = :max")
                .condition_expression("attribute_not_exists(#v) OR #v < :max")
                .expression_attribute_names("#v", "value")
                .expression_attribute_values(":max", n(at_least))
                .send()
                .await;
            super::unless_condition_failed(result)?;
        }
        Ok(())
    }

    async fn next_id(&self, block: &Mutex<Block>, table: &str, counter: &str, start: u64) -> Result<u64, StoreError> {
        let mut block = block.lock().await;
        if block.next > block.last {
            // A refill that fails or is cut by the deadline leaves the block empty; a reserved
            // block whose answer was lost is skipped for good, never handed out twice.
            let last = self.reserve(table, counter, start).await?;
            *block = Block { next: last - self.ids.size + 1, last };
        }
        let id = block.next;
        block.next += 1;
        Ok(id)
    }

    /// Reserves the next `size` numbers of `counter` and returns the last of them.
    async fn reserve(&self, table: &str, counter: &str, start: u64) -> Result<u64, StoreError> {
        let size = self.ids.size;
        let out = self
            .client
            .update_item()
            .table_name(table)
            .set_key(Some(key(counter)))
            .update_expression("SET #v = if_not_exists(#v, :start) + :block")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":start", n(start))
            .expression_attribute_values(":block", n(size))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        let returned = out.attributes().cloned().unwrap_or_default();
        let last = Attrs::returned_by(&returned, counter).n("value")?;
        if last < start + size {
            return Err(StoreError::Corrupt { key: counter.to_owned(), attribute: "value".into() });
        }
        Ok(last)
    }
}
