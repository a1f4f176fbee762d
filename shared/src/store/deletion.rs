//! Account deletion, in two steps that each leave the tables consistent:
//! 1. One transaction over the account's `version`: the account record becomes a tombstone
//!    (`user#<pk>` with only `pk`, `roomid`, `deleted_at`, `version`), and the username claim
//!    (holding the password hash and lockout state) and every identity claim (verified phone,
//!    third-party ids) are deleted. From then on every token is dead (its account is gone),
//!    every write of the account fails its version or existence condition, and no room can be
//!    created for it (`create_room` checks the owner in its transaction).
//! 2. The rooms listed in `owner#<pk>`, in transactions of at most `ROOM_BATCH` rooms (each
//!    room with its alias claim, the owner set and the active total), then the empty set.
//!
//! Step 2 is idempotent and may be run again by anyone who finds the tombstone (a retried or
//! parallel DELETE does): a function that dies between batches leaves rooms that the next
//! DELETE with the account's old token removes.

use aws_sdk_dynamodb::types::{Delete, KeysAndAttributes, TransactWriteItem};

use super::rooms::{owner_id, room_key};
use super::users::{claim_id, user_id};
use super::StoreError;
use super::{build_err, key, n, s, unavailable, unless_condition_failed, Attrs, Item, Store, KEY};
use crate::clock;
use crate::domain::{Room, User};

/// Two items per room (room, alias claim) plus the owner set and the active total: 100, the
/// most one TransactWriteItems takes.
const ROOM_BATCH: usize = 49;
/// Transactions in a row that lost to a concurrent room change before giving up (503-free:
/// the caller gets 409 and the next DELETE continues).
const MAX_REFUSALS: u32 = 12;

/// What `user#<pk>` holds.
pub enum AccountState {
    Live(Box<User>),
    /// Deleted (step 1 done); its rooms may still be being removed.
    Deleted,
}

pub(crate) fn is_tombstone(item: &Item) -> bool {
    item.contains_key("deleted_at")
}

impl Store {
    pub async fn account_state(&self, pk: u64) -> Result<Option<AccountState>, StoreError> {
        let item = self.get(&self.tables.users, user_id(pk)).await?;
        item.map(|i| {
            Ok(if is_tombstone(&i) { AccountState::Deleted } else { AccountState::Live(Box::new(User::try_from(&i)?)) })
        })
        .transpose()
    }

    /// Step 1 (see the module): `Contended` when the account changed since `user` was read.
    pub async fn retire_account(&self, user: &User) -> Result<(), StoreError> {
        let tombstone = Item::from([
            (KEY.to_owned(), s(user_id(user.pk))),
            ("pk".to_owned(), n(user.pk)),
            ("roomid".to_owned(), n(user.roomid)),
            ("deleted_at".to_owned(), n(clock::now_unix())),
            ("version".to_owned(), n(user.version + 1)),
        ]);
        let mut items = vec![
            self.put_over_version(&self.tables.users, tombstone, user.version)?,
            self.claim_release(&claim_id(&user.username), user.pk)?,
        ];
        for id in &user.claims {
            items.push(self.claim_release(id, user.pk)?);
        }
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Contended),
        }
    }

    /// Step 2 (see the module): every room `owner_pk` owns, batch by batch.
    pub async fn delete_owned_rooms(&self, owner_pk: u64) -> Result<(), StoreError> {
        let mut refusals = 0;
        loop {
            let owned = self.get(&self.tables.rooms, owner_id(owner_pk)).await?;
            let pks = match &owned {
                Some(item) => Attrs::of(item).opt_ns("rooms")?,
                None => Vec::new(),
            };
            let done = if pks.is_empty() {
                if owned.is_none() {
                    return Ok(());
                }
                let out = self
                    .client
                    .delete_item()
                    .table_name(&self.tables.rooms)
                    .set_key(Some(key(owner_id(owner_pk))))
                    .condition_expression("attribute_not_exists(rooms)")
                    .send()
                    .await;
                if unless_condition_failed(out)?.is_some() {
                    return Ok(());
                }
                false
            } else {
                let batch = &pks[..pks.len().min(ROOM_BATCH)];
                self.delete_room_batch(owner_pk, batch).await?
            };
            if done {
                refusals = 0;
            } else {
                refusals += 1;
                if refusals >= MAX_REFUSALS {
                    return Err(StoreError::Contended);
                }
            }
        }
    }

    /// One consistent batch: the rooms as read, their aliases, their place in the owner set and
    /// in the active total. `false` when a room changed since it was read (read again).
    async fn delete_room_batch(&self, owner_pk: u64, batch: &[u64]) -> Result<bool, StoreError> {
        let rooms = self.get_rooms(batch).await?;
        let mut items = Vec::with_capacity(2 * rooms.len() + 2);
        let mut active = 0i64;
        for room in rooms.iter().filter(|r| r.owner_pk == owner_pk) {
            let delete = Delete::builder()
                .table_name(&self.tables.rooms)
                .set_key(Some(room_key(room.pk)))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(room.version))
                .build()
                .map_err(build_err)?;
            items.push(TransactWriteItem::builder().delete(delete).build());
            items.push(self.alias_release(&room.room_alias, room.pk)?);
            active -= i64::from(room.active);
        }
        items.push(self.owned_rooms_change(owner_pk, "DELETE", batch)?);
        if active != 0 {
            items.push(self.active_count_change(active)?);
        }
        Ok(self.transact(items).await?.is_ok())
    }

    /// Rooms by pk, strongly consistent, in one BatchGetItem (plus retries of unprocessed keys).
    async fn get_rooms(&self, pks: &[u64]) -> Result<Vec<Room>, StoreError> {
        let mut keys: Vec<Item> = pks.iter().map(|pk| room_key(*pk)).collect();
        let mut rooms = Vec::with_capacity(keys.len());
        let mut attempt = 0;
        while !keys.is_empty() {
            let request =
                KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build().map_err(build_err)?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.tables.rooms, request)
                .send()
                .await
                .map_err(unavailable)?;
            if let Some(items) = out.responses().and_then(|r| r.get(&self.tables.rooms)) {
                for item in items {
                    rooms.push(Room::try_from(item)?);
                }
            }
            keys = out
                .unprocessed_keys()
                .and_then(|u| u.get(&self.tables.rooms))
                .map(|k| k.keys().to_vec())
                .unwrap_or_default();
            attempt += 1;
            if !keys.is_empty() {
                if attempt >= 8 {
                    return Err(StoreError::Unavailable("rooms batch read kept coming back unprocessed".into()));
                }
                tokio::time::sleep(super::backoff(attempt)).await;
            }
        }
        Ok(rooms)
    }
}
