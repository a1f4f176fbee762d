//! The room table. Items, told apart by their key:
//! - `room#<pk>`: the room. Active rooms also carry `active_shard` (`pk % ACTIVE_SHARDS`), which
//!   puts them, and only them, into the sparse `ActiveRooms` index (partition `active_shard`,
//!   sort `pk`): listing reads active rooms in pk order, one Query per shard merged by pk,
//!   without touching the inactive million.
//! - `alias#<alias>`: the claim that keeps `room_alias` unique.
//! - `stats#active_rooms#<k>`: the number of active rooms whose pk is k modulo ACTIVE_SHARDS,
//!   changed in the same transaction as every room write that changes it, so `total` is one
//!   BatchGetItem of the shards instead of a count, and concurrent room writes meet on the same
//!   count item only when their pks share a shard.
//! - `owner#<user pk>`: the set (`rooms`, numbers) of the pks of the rooms a user owns, changed
//!   in the same transaction as every room creation (refused when the set already holds the
//!   quota, so parallel creations cannot exceed it) and deletion, so account deletion finds
//!   every room by one strongly consistent read (an index by owner would be eventually
//!   consistent and could miss a room created a moment before).
//! - `counter#...`: room pks and the room-number space shared with accounts (counters.rs).

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, TransactWriteItem, Update};

use super::{build_err, key, n, s, unavailable, Attrs, Item, Store, KEY};
use super::{ClaimKind, StoreError};
use crate::domain::Room;

pub const ACTIVE_INDEX: &str = "ActiveRooms";
/// Shards of the active-room count and partitions of the `ActiveRooms` index; a room belongs to
/// shard `pk % ACTIVE_SHARDS` in both, so each count item equals the rooms of its index
/// partition. 16 (docs/capacity.md has the measurement): 16 x the write ceiling of one item
/// and of one index partition, for 16 Queries per list page run in parallel. A constant, not a
/// setting: stored rooms and counts carry their shard, so changing it needs a migration of
/// every active room and count item (none exists; there is no deployed data yet).
pub const ACTIVE_SHARDS: u64 = 16;

fn shard(pk: u64) -> u64 {
    pk % ACTIVE_SHARDS
}

fn count_id(shard: u64) -> String {
    format!("stats#active_rooms#{shard}")
}

fn room_id(pk: u64) -> String {
    format!("room#{pk}")
}

pub(crate) fn owner_id(user_pk: u64) -> String {
    format!("owner#{user_pk}")
}

fn alias_id(alias: &str) -> String {
    format!("alias#{alias}")
}

/// One page of active rooms, and where the next one starts.
pub struct RoomPage {
    pub rooms: Vec<Room>,
    /// pk of the last room returned when more rooms follow.
    pub next: Option<u64>,
}

pub(crate) fn room_key(pk: u64) -> Item {
    key(room_id(pk))
}

impl Room {
    pub(super) fn to_item(&self) -> Item {
        let mut item = Item::from([
            (KEY.to_owned(), s(room_id(self.pk))),
            ("pk".to_owned(), n(self.pk)),
            ("roomid".to_owned(), n(self.roomid)),
            ("room_alias".to_owned(), s(self.room_alias.as_str())),
            ("active".to_owned(), AttributeValue::Bool(self.active)),
            ("owner_pk".to_owned(), n(self.owner_pk)),
            ("version".to_owned(), n(self.version)),
        ]);
        if self.active {
            item.insert("active_shard".into(), s(shard(self.pk).to_string()));
        }
        item
    }
}

/// From the table or the `ActiveRooms` index (which projects every attribute read here).
impl TryFrom<&Item> for Room {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let a = Attrs::of(item);
        let pk = a.n("pk")?;
        a.key_is(&room_id(pk))?;
        Ok(Room {
            pk,
            roomid: a.n("roomid")?,
            room_alias: a.s("room_alias")?,
            active: a.bool("active")?,
            owner_pk: a.n("owner_pk")?,
            version: a.n("version")?,
        })
    }
}

impl Store {
    /// Adds (`ADD`) or removes (`DELETE`) room pks in the owner's set.
    pub(crate) fn owned_rooms_change(
        &self,
        owner_pk: u64,
        op: &str,
        room_pks: &[u64],
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.tables.rooms)
            .set_key(Some(key(owner_id(owner_pk))))
            .update_expression(format!("{op} rooms :pks"))
            .expression_attribute_values(":pks", AttributeValue::Ns(room_pks.iter().map(u64::to_string).collect()))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Holds a room creation to its owner still existing: once account deletion has written
    /// its tombstone, no room can be added behind it.
    pub(super) fn owner_is_live(&self, owner_pk: u64) -> Result<TransactWriteItem, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.tables.users)
            .set_key(Some(key(super::users::user_id(owner_pk))))
            .condition_expression("attribute_exists(id) AND attribute_not_exists(deleted_at)")
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// Adds `delta` to the count of the shard of room `pk`.
    pub(crate) fn active_count_change(&self, pk: u64, delta: i64) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.tables.rooms)
            .set_key(Some(key(count_id(shard(pk)))))
            .update_expression("ADD #v :d")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":d", AttributeValue::N(delta.to_string()))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Adds a new room to its owner's set, refused once the set holds `quota` rooms.
    fn owned_rooms_add(&self, owner_pk: u64, room_pk: u64, quota: u32) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.tables.rooms)
            .set_key(Some(key(owner_id(owner_pk))))
            .update_expression("ADD rooms :pks")
            .condition_expression("attribute_not_exists(rooms) OR size(rooms) < :quota")
            .expression_attribute_values(":pks", AttributeValue::Ns(vec![room_pk.to_string()]))
            .expression_attribute_values(":quota", n(u64::from(quota)))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub(super) fn alias_claim(&self, alias: &str, room_pk: u64) -> Result<TransactWriteItem, StoreError> {
        let claim = Item::from([(KEY.to_owned(), s(alias_id(alias))), ("room_pk".to_owned(), n(room_pk))]);
        self.put_new(&self.tables.rooms, claim)
    }

    pub(crate) fn alias_release(&self, alias: &str, room_pk: u64) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.tables.rooms)
            .set_key(Some(key(alias_id(alias))))
            .condition_expression("room_pk = :pk")
            .expression_attribute_values(":pk", n(room_pk))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// Creates the room with its alias claim, its place in the owner's set (at most `quota`
    /// rooms) and in the active count.
    pub async fn create_room(&self, room: &Room, quota: u32) -> Result<(), StoreError> {
        let mut items = vec![
            self.alias_claim(&room.room_alias, room.pk)?,
            self.put_new(&self.tables.rooms, room.to_item())?,
            self.owner_is_live(room.owner_pk)?,
            self.owned_rooms_add(room.owner_pk, room.pk, quota)?,
        ];
        if room.active {
            items.push(self.active_count_change(room.pk, 1)?);
        }
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(r) if r.index == 0 => Err(StoreError::Taken(ClaimKind::RoomAlias)),
            // The account was deleted after this request authenticated.
            Err(r) if r.index == 2 => Err(StoreError::OwnerGone),
            Err(r) if r.index == 3 => Err(StoreError::RoomQuota { limit: quota }),
            Err(_) => Err(StoreError::Contended),
        }
    }

    pub async fn get_room(&self, pk: u64) -> Result<Option<Room>, StoreError> {
        self.get(&self.tables.rooms, room_id(pk)).await?.as_ref().map(Room::try_from).transpose()
    }

    /// Writes `updated` over `current` (as read: same version), moving the alias claim and the
    /// active count with it in one transaction.
    pub async fn update_room(&self, current: &Room, updated: &Room) -> Result<Room, StoreError> {
        let next = Room { version: current.version + 1, ..updated.clone() };
        let mut items = vec![self.put_over_version(&self.tables.rooms, next.to_item(), current.version)?];
        let alias_moves = current.room_alias != updated.room_alias;
        if alias_moves {
            items.push(self.alias_claim(&updated.room_alias, current.pk)?);
            items.push(self.alias_release(&current.room_alias, current.pk)?);
        }
        if current.active != updated.active {
            items.push(self.active_count_change(current.pk, if updated.active { 1 } else { -1 })?);
        }
        match self.transact(items).await? {
            Ok(()) => Ok(next),
            Err(r) if r.index == 1 && alias_moves => Err(StoreError::Taken(ClaimKind::RoomAlias)),
            Err(_) => Err(StoreError::Contended),
        }
    }

    /// Deletes the room and releases its alias; its room number is never handed out again.
    pub async fn delete_room(&self, room: &Room) -> Result<(), StoreError> {
        let delete = Delete::builder()
            .table_name(&self.tables.rooms)
            .set_key(Some(key(room_id(room.pk))))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(room.version))
            .build()
            .map_err(build_err)?;
        let mut items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            self.alias_release(&room.room_alias, room.pk)?,
            self.owned_rooms_change(room.owner_pk, "DELETE", &[room.pk])?,
        ];
        if room.active {
            items.push(self.active_count_change(room.pk, -1)?);
        }
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Contended),
        }
    }

    /// The sum of the shard counts, read in one strongly consistent BatchGetItem. A shard never
    /// written yet counts 0.
    pub async fn count_active_rooms(&self) -> Result<u64, StoreError> {
        let keys = (0..ACTIVE_SHARDS).map(|k| key(count_id(k))).collect();
        let mut total = 0u64;
        for item in self.batch_get(&self.tables.rooms, keys).await? {
            total = total.saturating_add(Attrs::of(&item).n("value")?);
        }
        Ok(total)
    }

    /// Active rooms in pk order: `skip` of them passed over, then up to `limit`, starting after
    /// pk `after` when given. The shards of the index are merged by pk, read lazily: every
    /// shard first gets a Query for its even share of the rooms wanted (pks are handed out in
    /// sequence, so active rooms spread evenly over `pk % ACTIVE_SHARDS`), all in parallel; only
    /// a shard that runs dry before the merge is done is asked again (in parallel with any other
    /// dry one, for twice as many). So a page reads about `skip + limit + 1` index items, not
    /// `ACTIVE_SHARDS` times that, and the index holds only active rooms: no inactive room is
    /// ever read.
    pub async fn list_active_rooms(&self, after: Option<u64>, skip: u64, limit: u64) -> Result<RoomPage, StoreError> {
        // One more tells whether a next page exists. Saturating: the handler bounds both, the
        // store does not trust that.
        let wanted = skip.saturating_add(limit).saturating_add(1);
        let mut shards: Vec<ShardReader> = (0..ACTIVE_SHARDS).map(ShardReader::new).collect();
        // An even share and a little more for the unevenness of a few deleted or inactive rooms.
        let mut chunk = wanted.div_ceil(ACTIVE_SHARDS).saturating_add(8);
        let mut merged: Vec<Room> = Vec::new();
        while (merged.len() as u64) < wanted {
            // The smallest pk not merged yet is the smallest head only once every shard that may
            // hold more has a head: refill the dry ones first.
            let dry: Vec<usize> = (0..shards.len()).filter(|i| shards[*i].is_dry()).collect();
            if !dry.is_empty() {
                let ask = chunk.min(wanted - merged.len() as u64).clamp(1, 1000);
                let reads = dry.iter().map(|i| self.query_shard(&shards[*i], after, ask));
                for (i, (rooms, start)) in dry.iter().zip(futures_util::future::try_join_all(reads).await?) {
                    shards[*i].refill(rooms, start);
                }
                chunk = chunk.saturating_mul(2);
                continue;
            }
            let next = (0..shards.len()).filter_map(|i| shards[i].head().map(|pk| (pk, i))).min();
            let Some((_, i)) = next else { break };
            merged.extend(shards[i].buffer.pop_front());
        }
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut rooms: Vec<Room> = merged.into_iter().skip(skip).collect();
        let next = if rooms.len() > limit {
            rooms.truncate(limit);
            rooms.last().map(|r| r.pk)
        } else {
            None
        };
        Ok(RoomPage { rooms, next })
    }

    /// The next (at most) `limit` active rooms of one index shard with a pk above `after`, in
    /// pk order, in one Query; and where the shard continues, if it does.
    async fn query_shard(
        &self,
        shard: &ShardReader,
        after: Option<u64>,
        limit: u64,
    ) -> Result<(Vec<Room>, Option<Item>), StoreError> {
        let mut values = Item::from([(":s".to_owned(), s(shard.shard.to_string()))]);
        let condition = match after {
            Some(pk) => {
                values.insert(":after".to_owned(), n(pk));
                "active_shard = :s AND pk > :after"
            }
            None => "active_shard = :s",
        };
        let out = self
            .client
            .query()
            .table_name(&self.tables.rooms)
            .index_name(ACTIVE_INDEX)
            .key_condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .set_exclusive_start_key(shard.start.clone())
            .limit(i32::try_from(limit).unwrap_or(1000))
            .send()
            .await
            .map_err(unavailable)?;
        let rooms = out.items().iter().map(Room::try_from).collect::<Result<_, _>>()?;
        Ok((rooms, out.last_evaluated_key().cloned()))
    }
}

/// One index shard during a merge: the rooms read but not merged yet, and where it continues.
struct ShardReader {
    shard: u64,
    buffer: std::collections::VecDeque<Room>,
    start: Option<Item>,
    /// No more rooms after the buffer.
    done: bool,
}

impl ShardReader {
    fn new(shard: u64) -> Self {
        ShardReader { shard, buffer: Default::default(), start: None, done: false }
    }

    fn is_dry(&self) -> bool {
        self.buffer.is_empty() && !self.done
    }

    fn head(&self) -> Option<u64> {
        self.buffer.front().map(|r| r.pk)
    }

    fn refill(&mut self, rooms: Vec<Room>, start: Option<Item>) {
        self.buffer.extend(rooms);
        self.done = start.is_none();
        self.start = start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> Room {
        Room { pk: 4, roomid: 1009, room_alias: "1262".into(), active: true, owner_pk: 7, version: 1 }
    }

    #[test]
    fn a_room_reads_back_as_written_and_fails_without_its_numbers() {
        assert_eq!(Room::try_from(&room().to_item()).unwrap(), room());
        for attribute in ["pk", "roomid", "room_alias", "active", "owner_pk", "version"] {
            let mut item = room().to_item();
            item.remove(attribute);
            match Room::try_from(&item) {
                Err(StoreError::Corrupt { key, attribute: named }) => {
                    assert_eq!((key.as_str(), named.as_str()), ("room#4", attribute))
                }
                other => panic!("{attribute}: {other:?}"),
            }
        }
    }
}
