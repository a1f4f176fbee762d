//! Records brought over from the legacy server (tools/import, API.md "Moving an app off the
//! legacy server"), written with the items, claims and conditions of the endpoints that create
//! them, so an imported account or room is indistinguishable from one made here:
//! - an account: its record, its username claim with the credentials, and its identity claims
//!   (third-party id, verified phone), in one transaction of `put_new`s, as Register and the
//!   identity logins write them (without a session: imported tokens come separately);
//! - a room: its record, its alias claim, its place in its owner's set and in the active count
//!   shard, in one transaction as POST /rooms/ writes them (no quota: the legacy server had
//!   none); an ownerless room has `owner_pk` 0, which no account has (pks start at 1), so it
//!   is listed and readable and nobody can change it through the API;
//! - a token: its hashed record, conditional on its account being live.
//!
//! Every write only creates (`attribute_not_exists`), so nothing written here after the
//! cut-over is ever replaced, and a rerun finds its own earlier writes: [`Imported::Unchanged`]
//! when the record there is the one being imported (an account or room is recognised by what
//! never changes after creation: an account's `date_joined` and `roomid`, a room's `roomid`), a refusal when it is someone else's.

use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};

use super::tokens::TokenRecord;
use super::users::{user_id, Claim, Credentials};
use super::{build_err, key, Store, StoreError};
use super::{deletion, ClaimKind};
use crate::domain::{Room, User};

/// What an import write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    Created,
    /// The same record was already there (an earlier run, or a repeated line).
    Unchanged,
}

/// Why a record could not be imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportRefused {
    /// Another account or room holds this pk.
    DuplicatePk,
    /// Another record holds this claim (a username equal after NFKC, an snsid, a verified
    /// phone, a room alias).
    Taken(ClaimKind),
    /// The account a room or token names does not exist (or was deleted).
    NoAccount,
}

pub type ImportResult = Result<Result<Imported, ImportRefused>, StoreError>;

impl Store {
    /// Creates the imported account `user` (pk, roomid, profile, date_joined as exported;
    /// `claims` empty) with its password hash (already wrapped) and identity claims.
    pub async fn import_user(&self, user: &User, password_hash: Option<&str>, claims: &[Claim]) -> ImportResult {
        let creds = Credentials {
            username: user.username.clone(),
            user_pk: user.pk,
            password_hash: password_hash.map(str::to_owned),
            token_epoch: user.token_epoch,
        };
        let mut record = user.clone();
        record.claims.extend(claims.iter().map(|c| c.id().to_owned()));
        let mut items = vec![
            self.put_new(&self.tables.users, record.to_item())?,
            self.put_new(&self.tables.users, creds.to_item())?,
        ];
        for claim in claims {
            items.push(self.put_new(&self.tables.users, claim.to_item(user.pk))?);
        }
        match self.transact(items).await? {
            Ok(()) => Ok(Ok(Imported::Created)),
            Err(r) if r.index == 0 => {
                let there = self.get(&self.tables.users, user_id(user.pk)).await?;
                let same = match &there {
                    Some(item) if !deletion::is_tombstone(item) => {
                        let there = User::try_from(item)?;
                        (there.date_joined.as_str(), there.roomid) == (user.date_joined.as_str(), user.roomid)
                    }
                    _ => false,
                };
                Ok(if same { Ok(Imported::Unchanged) } else { Err(ImportRefused::DuplicatePk) })
            }
            Err(r) if r.index == 1 => Ok(Err(ImportRefused::Taken(ClaimKind::Username))),
            Err(r) => Ok(Err(ImportRefused::Taken(claims[r.index - 2].kind()))),
        }
    }

    /// Creates the imported room (`owner_pk` 0: ownerless), its alias claim, its place in its
    /// owner's set and the active count of its shard.
    pub async fn import_room(&self, room: &Room) -> ImportResult {
        let mut items =
            vec![self.put_new(&self.tables.rooms, room.to_item())?, self.alias_claim(&room.room_alias, room.pk)?];
        if room.owner_pk != 0 {
            items.push(self.owner_is_live(room.owner_pk)?);
            items.push(self.owned_rooms_change(room.owner_pk, "ADD", &[room.pk])?);
        }
        if room.active {
            items.push(self.active_count_change(room.pk, 1)?);
        }
        match self.transact(items).await? {
            Ok(()) => Ok(Ok(Imported::Created)),
            Err(r) if r.index == 0 => {
                let same = self.get_room(room.pk).await?.is_some_and(|there| there.roomid == room.roomid);
                Ok(if same { Ok(Imported::Unchanged) } else { Err(ImportRefused::DuplicatePk) })
            }
            Err(r) if r.index == 1 => Ok(Err(ImportRefused::Taken(ClaimKind::RoomAlias))),
            Err(r) if r.index == 2 => Ok(Err(ImportRefused::NoAccount)),
            Err(_) => Err(StoreError::Contended),
        }
    }

    /// Stores an imported token under its hash, if its account is live.
    pub async fn import_token(&self, hash: &str, record: &TokenRecord) -> ImportResult {
        let check = ConditionCheck::builder()
            .table_name(&self.tables.users)
            .set_key(Some(key(user_id(record.user_pk))))
            .condition_expression("attribute_exists(id) AND attribute_not_exists(deleted_at)")
            .build()
            .map_err(build_err)?;
        let items = vec![self.token_put(hash, record)?, TransactWriteItem::builder().condition_check(check).build()];
        match self.transact(items).await? {
            Ok(()) => Ok(Ok(Imported::Created)),
            // The hash is the token: the same token, imported before.
            Err(r) if r.index == 0 => Ok(Ok(Imported::Unchanged)),
            Err(_) => Ok(Err(ImportRefused::NoAccount)),
        }
    }
}
