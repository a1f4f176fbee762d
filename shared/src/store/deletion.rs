//! Account deletion, in two steps that each leave the tables consistent:
//! 1. One transaction over the account's `version`: the account record becomes a tombstone
//!    (`user#<pk>` with only `pk`, `roomid`, `deleted_at`, `version` and the avatar keys), and the username claim
//!    (holding the password hash and lockout state) and every identity claim (verified phone,
//!    third-party ids) are deleted. From then on every token is dead (its account is gone),
//!    every write of the account fails its version or existence condition, and no room can be
//!    created for it (`create_room` checks the owner in its transaction).
//! 2. The rooms listed in `owner#<pk>`, in transactions of at most `ROOM_BATCH` rooms (each
//!    room with its alias claim, the owner set and the shards of the active total), then the
//!    empty set.
//!
//! 3. The avatar objects the tombstone still names (`avatar_objects`, kept by step 1), deleted
//!    from S3 and then from the tombstone (crate::avatars::erase): PIPL's erasure of the pictures.
//!
//! Steps 2 and 3 are idempotent and may be run again by anyone who finds the tombstone (a retried or
//! parallel DELETE does): a function that dies between batches leaves rooms that the next
//! DELETE with the account's old token removes.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, TransactWriteItem};

use super::rooms::{owner_id, room_key, ACTIVE_SHARDS};
use super::users::{claim_id, user_id, AVATAR_OBJECTS};
use super::StoreError;
use super::{build_err, key, n, s, unless_condition_failed, Attrs, Item, Store, KEY};
use crate::clock;
use crate::domain::{Room, User};

/// Two items per room (room, alias claim) plus the owner set and at most one count item per
/// shard of the active total: 99 with 16 shards, within the 100 one TransactWriteItems takes.
const ROOM_BATCH: usize = (100 - 1 - ACTIVE_SHARDS as usize) / 2;
/// Transactions in a row that lost to a concurrent room change before giving up (503-free:
/// the caller gets 409 and the next DELETE continues).
const MAX_REFUSALS: u32 = 12;

/// What `user#<pk>` holds.
pub enum AccountState {
    Live(Box<User>),
    /// Deleted (step 1 done); its rooms may still be being removed, and these avatar objects
    /// erased.
    Deleted {
        avatar_objects: Vec<String>,
    },
}

pub(crate) fn is_tombstone(item: &Item) -> bool {
    item.contains_key("deleted_at")
}

impl AccountState {
    pub(crate) fn read(item: &Item) -> Result<Self, StoreError> {
        Ok(if is_tombstone(item) {
            AccountState::Deleted { avatar_objects: Attrs::of(item).opt_ss(AVATAR_OBJECTS)? }
        } else {
            AccountState::Live(Box::new(User::try_from(item)?))
        })
    }
}

impl Store {
    pub async fn account_state(&self, pk: u64) -> Result<Option<AccountState>, StoreError> {
        self.get(&self.tables.users, user_id(pk)).await?.as_ref().map(AccountState::read).transpose()
    }

    /// Step 1 (see the module): `Contended` when the account changed since `user` was read.
    /// `apple_revocation_until`: the account has Apple credentials, recorded in the same
    /// transaction as owed a revocation and kept until then (see users.rs).
    pub async fn retire_account(&self, user: &User, apple_revocation_until: Option<u64>) -> Result<(), StoreError> {
        let mut tombstone = Item::from([
            (KEY.to_owned(), s(user_id(user.pk))),
            ("pk".to_owned(), n(user.pk)),
            ("roomid".to_owned(), n(user.roomid)),
            ("deleted_at".to_owned(), n(clock::now_unix())),
            ("version".to_owned(), n(user.version + 1)),
        ]);
        if !user.avatar_objects.is_empty() {
            tombstone.insert(AVATAR_OBJECTS.to_owned(), AttributeValue::Ss(user.avatar_objects.clone()));
        }
        let mut items = vec![
            self.put_over_version(&self.tables.users, tombstone, user.version)?,
            self.claim_release(&claim_id(&user.username), user.pk)?,
        ];
        for id in &user.claims {
            items.push(self.claim_release(id, user.pk)?);
        }
        if let Some(until) = apple_revocation_until {
            items.extend(self.apple_revocation_owed(user.pk, until)?);
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
        // Per room pk of each shard touched: one count item per shard, however many rooms.
        let mut active: std::collections::BTreeMap<u64, (u64, i64)> = Default::default();
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
            if room.active {
                active.entry(room.pk % ACTIVE_SHARDS).or_insert((room.pk, 0)).1 -= 1;
            }
        }
        items.push(self.owned_rooms_change(owner_pk, "DELETE", batch)?);
        for (pk, delta) in active.into_values() {
            items.push(self.active_count_change(pk, delta)?);
        }
        Ok(self.transact(items).await?.is_ok())
    }

    /// Rooms by pk, strongly consistent, in one BatchGetItem (plus retries of unprocessed keys).
    async fn get_rooms(&self, pks: &[u64]) -> Result<Vec<Room>, StoreError> {
        let keys = pks.iter().map(|pk| room_key(*pk)).collect();
        self.batch_get(&self.tables.rooms, keys).await?.iter().map(Room::try_from).collect()
    }
}
