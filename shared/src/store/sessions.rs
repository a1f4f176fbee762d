//! Login sessions and their refresh tokens, in the token table beside the 24 h tokens:
//! - `session#<id>`: one per login: the user and token epoch it was opened in, when (`created`,
//!   which no refresh moves), the hash of its
//!   one live refresh token (`current`), the 24 h tokens it issued that may still be alive
//!   (`tokens`, hash -> expiry: what revoking the session deletes), `ended_at` once revoked;
//! - `refresh#<sha256>`: one per refresh token, kept until it expires even once used, so that
//!   a replay is recognised: `used_at` and the successor sealed under the used token (see
//!   auth::refresh) are set by the rotation that used it up.
//!
//! A 24 h token record names its session, and authentication reads the session with the account
//! (one BatchGetItem over both tables, auth::session::live decides): ending a session is the one
//! write that marks it ended, so its tokens and refresh tokens are refused from that write on,
//! whatever token items survive it. The token items are deleted in the same transaction, as
//! tidiness, not as the revocation.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, TransactWriteItem, Update};

use super::deletion::AccountState;
use super::tokens::TokenRecord;
use super::users::user_id;
use super::StoreError;
use super::{build_err, key, n, s, Attrs, Item, LinkedWrite, Store, KEY};

/// DynamoDB's limit on the items of one transaction.
const TRANSACTION_MAX: usize = 100;

fn session_id(id: &str) -> String {
    format!("session#{id}")
}

fn refresh_id(hash: &str) -> String {
    format!("refresh#{hash}")
}

/// A 24 h token and a refresh token handed out together, in session `session`: at a login
/// (which opens the session) or at a rotation.
#[derive(Debug, Clone)]
pub struct Grant {
    pub session: String,
    pub user_pk: u64,
    pub epoch: u64,
    pub token_hash: String,
    pub token_expires_at: u64,
    /// When the token was issued; at a login, also the session's `created` (the login time
    /// AccountDelete's re-authentication window checks; a rotation leaves it alone).
    pub issued_at: u64,
    pub refresh_hash: String,
    pub refresh_expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    pub user_pk: u64,
    pub session: String,
    pub expires_at: u64,
    pub used_at: Option<u64>,
    /// The successor pair, sealed under this (used) refresh token.
    pub next: Option<String>,
    pub next_expires_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub user_pk: u64,
    pub epoch: u64,
    /// Hash of the one refresh token that may rotate; empty once the session ended.
    pub current: String,
    /// 24 h tokens issued in the session (hash, expiry), oldest first.
    pub tokens: Vec<(String, u64)>,
    pub ended_at: Option<u64>,
    /// When the login that opened the session happened (unix seconds): refreshes never move it,
    /// so it is what AccountDelete's "fresh login" re-authentication checks. Sessions written
    /// before it existed read as 0, i.e. never fresh.
    pub created: u64,
}

/// What a rotation expects of the refresh token it uses (its transaction's conditions).
#[derive(Debug, Clone, Copy)]
pub enum Expect<'a> {
    /// Unused, and the session's live refresh token.
    Unused,
    /// Used at `used_at` (no rotation since) and its successor, `refresh` with 24 h token
    /// `token`, never used: still the session's live refresh token. The successor is superseded.
    Again { used_at: u64, token: &'a str, refresh: &'a str },
}

/// One rotation of a refresh token (see [`Store::rotate`]).
pub struct Rotation<'a> {
    pub old_hash: &'a str,
    pub expect: Expect<'a>,
    pub session: &'a SessionRecord,
    pub next: &'a Grant,
    /// The successor as a retry inside the grace gets it back.
    pub sealed: &'a str,
    pub now: u64,
    /// Expired tokens that leave the session's list.
    pub dropped: &'a [String],
    /// Live tokens that leave the list and are deleted (the session is at its cap).
    pub evicted: &'a [String],
}

/// How a rotation attempt ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotated {
    Won,
    /// Another rotation used the refresh token up first.
    Lost,
    /// The session ended or the user's tokens were revoked (password change) meanwhile.
    Refused,
}

impl RefreshRecord {
    fn read(item: &Item) -> Result<Self, StoreError> {
        let a = Attrs::of(item);
        Ok(RefreshRecord {
            user_pk: a.n("user_pk")?,
            session: a.s("session")?,
            expires_at: a.n("expires_at")?,
            used_at: a.opt_n("used_at")?,
            next: a.opt_s("successor")?,
            next_expires_at: a.opt_n("successor_expires_at")?.unwrap_or(0),
        })
    }
}

impl SessionRecord {
    /// `key` is the session's item key: attributes returned by a write do not carry it.
    fn read(item: &Item, key: &str) -> Result<Self, StoreError> {
        let a = Attrs::returned_by(item, key);
        let mut tokens = Vec::new();
        if let Some(AttributeValue::M(map)) = item.get("tokens") {
            for (hash, exp) in map {
                let exp = exp.as_n().ok().and_then(|v| v.parse().ok());
                tokens.push((
                    hash.clone(),
                    exp.ok_or_else(|| StoreError::Corrupt { key: "session".into(), attribute: "tokens".into() })?,
                ));
            }
        }
        tokens.sort_by_key(|(hash, exp)| (*exp, hash.clone()));
        Ok(SessionRecord {
            id: key.trim_start_matches("session#").to_owned(),
            user_pk: a.n("user_pk")?,
            epoch: a.n("epoch")?,
            // An ended session no longer has a live refresh token.
            current: a.opt_s("current")?.unwrap_or_default(),
            tokens,
            ended_at: a.opt_n("ended_at")?,
            created: a.opt_n("created")?.unwrap_or(0),
        })
    }
}

impl Store {
    /// The two puts of a grant: its 24 h token and its refresh token.
    fn grant_puts(&self, g: &Grant) -> Result<[TransactWriteItem; 2], StoreError> {
        let token = TokenRecord {
            user_pk: g.user_pk,
            epoch: g.epoch,
            expires_at: g.token_expires_at,
            issued_at: g.issued_at,
            session: g.session.clone(),
        };
        let refresh = Item::from([
            (KEY.to_owned(), s(refresh_id(&g.refresh_hash))),
            ("user_pk".to_owned(), n(g.user_pk)),
            ("session".to_owned(), s(g.session.as_str())),
            ("expires_at".to_owned(), n(g.refresh_expires_at)),
        ]);
        Ok([self.token_put(&g.token_hash, &token)?, self.put_new(&self.tables.tokens, refresh)?])
    }

    /// Everything a login writes for its session: the session, its first token and refresh
    /// token. Written in the transaction that creates or logs into the account.
    pub(crate) fn session_start_items(&self, g: &Grant) -> Result<Vec<TransactWriteItem>, StoreError> {
        let session = Item::from([
            (KEY.to_owned(), s(session_id(&g.session))),
            ("user_pk".to_owned(), n(g.user_pk)),
            ("epoch".to_owned(), n(g.epoch)),
            ("current".to_owned(), s(g.refresh_hash.as_str())),
            ("tokens".to_owned(), AttributeValue::M([(g.token_hash.clone(), n(g.token_expires_at))].into())),
            ("expires_at".to_owned(), n(g.refresh_expires_at)),
            ("created".to_owned(), n(g.issued_at)),
        ]);
        let mut items = Vec::with_capacity(3);
        items.extend(self.grant_puts(g)?);
        items.push(self.put_new(&self.tables.tokens, session)?);
        Ok(items)
    }

    /// Opens a session for an existing account, with `linked` in the same transaction, only
    /// while the account is not disabled (`AccountDisabled` otherwise, nothing written).
    pub async fn start_session(&self, g: &Grant, linked: &[LinkedWrite]) -> Result<(), StoreError> {
        let mut items = self.session_start_items(g)?;
        let linked_at = items.len();
        let mut linked_all = Vec::with_capacity(linked.len() + 1);
        linked_all.push(self.account_enabled(g.user_pk)?);
        linked_all.extend(linked.iter().cloned());
        items.extend(linked_all.iter().map(|l| l.item.clone()));
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(r) => Err(super::refusal_of(&linked_all, r.index.checked_sub(linked_at))),
        }
    }

    pub async fn get_refresh(&self, hash: &str) -> Result<Option<RefreshRecord>, StoreError> {
        self.get(&self.tables.tokens, refresh_id(hash)).await?.as_ref().map(RefreshRecord::read).transpose()
    }

    /// Uses up refresh token `r.old_hash` and hands out `r.next` in one transaction whose
    /// conditions make it the one rotation of that token: the token as `r.expect` says (unused,
    /// or used at exactly the rotation seen), the session still open with the expected live
    /// refresh token, the user still in the session's epoch.
    pub async fn rotate(&self, r: &Rotation<'_>) -> Result<Rotated, StoreError> {
        let Rotation { old_hash, expect, session, next, sealed, now, dropped, evicted } = *r;
        let (condition, live) = match expect {
            Expect::Unused => ("attribute_exists(id) AND attribute_not_exists(used_at)", old_hash),
            Expect::Again { refresh, .. } => ("used_at = :was", refresh),
        };
        let mut used = Update::builder()
            .table_name(&self.tables.tokens)
            .set_key(Some(key(refresh_id(old_hash))))
            .update_expression("SET used_at = :now, successor = :next, successor_expires_at = :nexp")
            .condition_expression(condition)
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":next", s(sealed))
            .expression_attribute_values(":nexp", n(next.refresh_expires_at));
        if let Expect::Again { used_at, .. } = expect {
            used = used.expression_attribute_values(":was", n(used_at));
        }
        let used = used.build().map_err(build_err)?;
        let mut moved = Update::builder()
            .table_name(&self.tables.tokens)
            .set_key(Some(key(session_id(&session.id))))
            .condition_expression("#cur = :old AND attribute_not_exists(ended_at)")
            .expression_attribute_names("#cur", "current")
            .expression_attribute_names("#new", next.token_hash.as_str())
            .expression_attribute_values(":old", s(live))
            .expression_attribute_values(":new", s(next.refresh_hash.as_str()))
            .expression_attribute_values(":texp", n(next.token_expires_at))
            .expression_attribute_values(":rexp", n(next.refresh_expires_at));
        let mut removes = Vec::new();
        for (i, hash) in dropped.iter().chain(evicted).enumerate() {
            moved = moved.expression_attribute_names(format!("#d{i}"), hash.as_str());
            removes.push(format!("tokens.#d{i}"));
        }
        let mut expression = "SET #cur = :new, expires_at = :rexp, tokens.#new = :texp".to_owned();
        if !removes.is_empty() {
            expression.push_str(" REMOVE ");
            expression.push_str(&removes.join(", "));
        }
        let moved = moved.update_expression(expression).build().map_err(build_err)?;
        let epoch = ConditionCheck::builder()
            .table_name(&self.tables.users)
            .set_key(Some(key(user_id(session.user_pk))))
            // A disable between the read and this write refuses the rotation too.
            .condition_expression("token_epoch = :e AND attribute_not_exists(disabled_at)")
            .expression_attribute_values(":e", n(session.epoch))
            .build()
            .map_err(build_err)?;
        let mut items = vec![
            TransactWriteItem::builder().update(used).build(),
            TransactWriteItem::builder().update(moved).build(),
            TransactWriteItem::builder().condition_check(epoch).build(),
        ];
        items.extend(self.grant_puts(next)?);
        for hash in evicted {
            items.push(self.token_delete(hash)?);
        }
        match self.transact(items).await? {
            Ok(()) => Ok(Rotated::Won),
            Err(r) if r.index == 0 => Ok(Rotated::Lost),
            Err(r) if r.index <= 2 => Ok(Rotated::Refused),
            Err(_) => Err(StoreError::Contended),
        }
    }

    /// The account and the login session a credential names, read together in one BatchGetItem
    /// (they live in two tables). A credential without a session (a token older than sessions,
    /// or imported) reads the account alone.
    pub async fn account_and_session(
        &self,
        user_pk: u64,
        session: &str,
    ) -> Result<(Option<AccountState>, Option<SessionRecord>), StoreError> {
        if session.is_empty() {
            return Ok((self.account_state(user_pk).await?, None));
        }
        let key_of_session = session_id(session);
        let mut found = self
            .batch_get_tables(HashMap::from([
                (self.tables.users.clone(), vec![key(user_id(user_pk))]),
                (self.tables.tokens.clone(), vec![key(key_of_session.as_str())]),
            ]))
            .await?;
        let account = found.remove(&self.tables.users).unwrap_or_default();
        let record = found.remove(&self.tables.tokens).unwrap_or_default();
        Ok((
            account.first().map(AccountState::read).transpose()?,
            record.first().map(|item| SessionRecord::read(item, &key_of_session)).transpose()?,
        ))
    }

    /// Ends `session` (as read) in one transaction: the session marked ended (from this write on
    /// no token or refresh token of it authenticates, and no rotation can add one) and the 24 h
    /// tokens it lists deleted. Either all of it happens or none, so a failed end is retried
    /// whole by the next request that ends it. A session that no longer exists (expired and
    /// swept) has nothing left to end. A token a rotation added after `session` was read stays
    /// as an item until it expires, refused like the others.
    pub async fn end_session(&self, session: &SessionRecord, now: u64) -> Result<(), StoreError> {
        let end = Update::builder()
            .table_name(&self.tables.tokens)
            .set_key(Some(key(session_id(&session.id))))
            .update_expression("SET ended_at = if_not_exists(ended_at, :now) REMOVE #cur")
            .condition_expression("attribute_exists(id)")
            .expression_attribute_names("#cur", "current")
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(build_err)?;
        let mut deletes =
            session.tokens.iter().map(|(hash, _)| self.token_delete(hash)).collect::<Result<Vec<_>, _>>()?;
        // A session lists at most SESSION_LIVE_TOKENS_MAX live tokens and the expired ones of its
        // last rotation: the rest fits one transaction with the end. Beyond 100 (not written by
        // this code), the overflow goes after the end, which already refuses them.
        let rest = deletes.split_off(deletes.len().min(TRANSACTION_MAX - 1));
        let mut items = vec![TransactWriteItem::builder().update(end).build()];
        items.extend(deletes);
        match self.transact(items).await? {
            Ok(()) => {}
            Err(r) if r.index == 0 => return Ok(()),
            Err(_) => return Err(StoreError::Contended),
        }
        for chunk in rest.chunks(TRANSACTION_MAX) {
            if self.transact(chunk.to_vec()).await?.is_err() {
                return Err(StoreError::Contended);
            }
        }
        Ok(())
    }

    fn token_delete(&self, hash: &str) -> Result<TransactWriteItem, StoreError> {
        let delete =
            Delete::builder().table_name(&self.tables.tokens).set_key(Some(key(hash))).build().map_err(build_err)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}
