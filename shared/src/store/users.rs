//! The user table. Three kinds of item share it, told apart by their key:
//! - `user#<pk>`: the account record;
//! - `username#<name>`: the claim that makes the username unique (NFKC-normalised), holding
//!   the credentials (password hash, token epoch) so that login is one read by username;
//! - `lockout#<name>`: login failure counts (see lockout.rs);
//! - `sns#<login_type>#<snsid>`, `phone#<e164>`: claims that link a third-party identity or a
//!   verified phone to one account;
//! - `lookalike#<skeleton>`: the UTS #39 skeleton of a username chosen here, so that no other
//!   name that looks the same can be taken;
//! - `apple#<pk>`: the Sign in with Apple refresh token of an account, sealed, with an expiry,
//!   kept only so that deleting the account can revoke it at Apple; `revocations#apple`: the
//!   accounts whose deletion still owes Apple a revocation;
//! - `counter#...`: atomic counters (see counters.rs).

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, TransactWriteItem, Update};

use super::sessions::Grant;
use super::{build_err, key, n, s, unless_condition_failed, Attrs, Item, LinkedWrite, Rejected, Store, KEY};
use super::{ClaimKind, StoreError};
use crate::domain::User;
use crate::phone::Phone;
use crate::validate::{Snsid, Username};

/// What login needs, read in one GetItem by username.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub username: String,
    pub user_pk: u64,
    /// None for accounts created by SMS or third-party login: they have no password to try.
    pub password_hash: Option<String>,
    pub token_epoch: u64,
}

pub(crate) fn user_id(pk: u64) -> String {
    format!("user#{pk}")
}

const PHONE_CLAIM: &str = "phone#";

/// The account's S3 keys (`User::avatar_objects`); the tombstone keeps them until they are erased.
pub(crate) const AVATAR_OBJECTS: &str = "avatar_objects";

pub(crate) fn claim_id(username: &str) -> String {
    format!("username#{username}")
}

const LOOKALIKE_CLAIM: &str = "lookalike#";

fn lookalike_id(username: &Username) -> String {
    format!("{LOOKALIKE_CLAIM}{}", username.skeleton())
}

/// A uniqueness claim, beside the username's, that a new account takes in the same transaction
/// that creates it, so that exactly one account ever owns the claimed identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    id: String,
    /// What `Taken` names when someone else holds the claim.
    kind: ClaimKind,
}

impl Claim {
    /// The third-party identity (login_type, snsid).
    pub fn sns(login_type: &str, snsid: &Snsid) -> Self {
        Claim { id: format!("sns#{login_type}#{}", snsid.as_str()), kind: ClaimKind::Sns }
    }

    /// A phone verified by SMS (never one merely typed into a profile).
    pub fn phone(phone: &Phone) -> Self {
        Claim { id: format!("{PHONE_CLAIM}{}", phone.e164), kind: ClaimKind::Phone }
    }

    /// The skeleton of a username chosen here: a name that looks like a taken one is taken
    /// (UTS #39). Taken by every account created or renamed through the API; an import keeps
    /// legacy names that only look alike, since refusing one would lose an account.
    pub fn lookalike(username: &Username) -> Self {
        Claim { id: lookalike_id(username), kind: ClaimKind::Username }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub(super) fn kind(&self) -> ClaimKind {
        self.kind
    }

    pub(super) fn to_item(&self, user_pk: u64) -> Item {
        Item::from([(KEY.to_owned(), s(self.id.as_str())), ("user_pk".to_owned(), n(user_pk))])
    }
}

impl User {
    pub(super) fn to_item(&self) -> Item {
        let mut item = Item::with_capacity(20);
        item.insert(KEY.into(), s(user_id(self.pk)));
        item.insert("pk".into(), n(self.pk));
        for (name, value) in [
            ("username", &self.username),
            ("nickname", &self.nickname),
            ("sex", &self.sex),
            ("age", &self.age),
            ("email", &self.email),
            ("phone", &self.phone),
            ("country", &self.country),
            ("province", &self.province),
            ("city", &self.city),
            ("career", &self.career),
            ("login_type", &self.login_type),
            ("img", &self.img),
            ("img_thumb", &self.img_thumb),
            ("date_joined", &self.date_joined),
        ] {
            item.insert(name.into(), s(value.as_str()));
        }
        item.insert("roomid".into(), n(self.roomid));
        item.insert("token_epoch".into(), n(self.token_epoch));
        item.insert("version".into(), n(self.version));
        if !self.claims.is_empty() {
            item.insert("claims".into(), AttributeValue::Ss(self.claims.clone()));
        }
        if !self.avatar_objects.is_empty() {
            item.insert(AVATAR_OBJECTS.into(), AttributeValue::Ss(self.avatar_objects.clone()));
        }
        if let Some(at) = self.disabled_at {
            item.insert("disabled_at".into(), n(at));
        }
        item
    }
}

impl TryFrom<&Item> for User {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let a = Attrs::of(item);
        let pk = a.n("pk")?;
        a.key_is(&user_id(pk))?;
        Ok(User {
            pk,
            username: a.s("username")?,
            nickname: a.text("nickname")?,
            sex: a.text("sex")?,
            age: a.text("age")?,
            email: a.text("email")?,
            phone: a.text("phone")?,
            country: a.text("country")?,
            province: a.text("province")?,
            city: a.text("city")?,
            career: a.text("career")?,
            login_type: a.text("login_type")?,
            img: a.text("img")?,
            img_thumb: a.text("img_thumb")?,
            avatar_objects: a.opt_ss(AVATAR_OBJECTS)?,
            date_joined: a.text("date_joined")?,
            roomid: a.n("roomid")?,
            token_epoch: a.n("token_epoch")?,
            version: a.n("version")?,
            claims: a.opt_ss("claims")?,
            disabled_at: a.opt_n("disabled_at")?,
        })
    }
}

impl User {
    /// The phone verified by SMS (E.164), if the account holds one.
    pub fn verified_phone(&self) -> Option<&str> {
        self.claims.iter().find_map(|id| id.strip_prefix(PHONE_CLAIM))
    }
}

impl Credentials {
    pub(super) fn to_item(&self) -> Item {
        let mut item = Item::from([
            (KEY.to_owned(), s(claim_id(&self.username))),
            ("username".to_owned(), s(self.username.as_str())),
            ("user_pk".to_owned(), n(self.user_pk)),
            ("token_epoch".to_owned(), n(self.token_epoch)),
        ]);
        if let Some(hash) = &self.password_hash {
            item.insert("password_hash".into(), s(hash.as_str()));
        }
        item
    }
}

impl TryFrom<&Item> for Credentials {
    type Error = StoreError;

    fn try_from(item: &Item) -> Result<Self, StoreError> {
        let a = Attrs::of(item);
        let username = a.s("username")?;
        a.key_is(&claim_id(&username))?;
        Ok(Credentials {
            username,
            user_pk: a.n("user_pk")?,
            password_hash: a.opt_s("password_hash")?,
            token_epoch: a.n("token_epoch")?,
        })
    }
}

impl Store {
    /// Writes a user record over the version it was read at.
    fn put_user_versioned(&self, user: &User) -> Result<TransactWriteItem, StoreError> {
        let next = User { version: user.version + 1, ..user.clone() };
        self.put_over_version(&self.tables.users, next.to_item(), user.version)
    }

    /// Creates the account, its username claim, its `claims` and its first session in one
    /// transaction, with `linked` if given: either all exist afterwards or none does. A claim
    /// someone else holds is `Taken` with the claim's kind (the `claims` are checked first, so
    /// a taken identity is reported even when the username is taken too).
    pub async fn create_user(
        &self,
        user: &User,
        password_hash: Option<&str>,
        claims: &[Claim],
        session: &Grant,
        linked: Option<&LinkedWrite>,
    ) -> Result<(), StoreError> {
        let creds = Credentials {
            username: user.username.clone(),
            user_pk: user.pk,
            password_hash: password_hash.map(str::to_owned),
            token_epoch: user.token_epoch,
        };
        let mut items = Vec::with_capacity(claims.len() + 6);
        for claim in claims {
            items.push(self.put_new(&self.tables.users, claim.to_item(user.pk))?);
        }
        items.push(self.put_new(&self.tables.users, creds.to_item())?);
        let mut record = user.clone();
        record.claims.extend(claims.iter().map(|c| c.id.clone()));
        items.push(self.put_new(&self.tables.users, record.to_item())?);
        items.extend(self.session_start_items(session)?);
        let linked_at = items.len();
        items.extend(linked.map(|l| l.item.clone()));
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(r) if r.index < claims.len() => Err(StoreError::Taken(claims[r.index].kind)),
            Err(r) if r.index == claims.len() => Err(StoreError::Taken(ClaimKind::Username)),
            Err(r) => match linked {
                Some(l) if r.index == linked_at => Err((l.refused)()),
                _ => Err(StoreError::Contended),
            },
        }
    }

    /// Replaces the wrapped legacy hash `old` that login just verified for `creds` by `new`, a
    /// plain argon2id of the same password. Conditional on the claim still holding `old` (the
    /// hash is the version here): of two parallel first logins one replaces it and the other
    /// finds it replaced, so one valid hash is left; a password changed meanwhile is never
    /// overwritten. Whether this write replaced it.
    pub async fn upgrade_password_hash(&self, creds: &Credentials, old: &str, new: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .set_key(Some(key(claim_id(&creds.username))))
            .update_expression("SET password_hash = :new")
            .condition_expression("password_hash = :old AND user_pk = :pk")
            .expression_attribute_values(":new", s(new))
            .expression_attribute_values(":old", s(old))
            .expression_attribute_values(":pk", n(creds.user_pk))
            .send()
            .await;
        Ok(unless_condition_failed(result)?.is_some())
    }

    /// The account holding `claim`, if any (strongly consistent: a claim written a moment ago
    /// by a concurrent request is seen).
    pub async fn claim_owner(&self, claim: &Claim) -> Result<Option<u64>, StoreError> {
        self.get(&self.tables.users, claim.id.as_str()).await?.map(|item| Attrs::of(&item).n("user_pk")).transpose()
    }

    pub async fn get_credentials(&self, username: &Username) -> Result<Option<Credentials>, StoreError> {
        self.get(&self.tables.users, claim_id(username.as_str())).await?.as_ref().map(Credentials::try_from).transpose()
    }

    /// The live account `pk`; a deleted account (its tombstone, see deletion.rs) is none.
    pub async fn get_user(&self, pk: u64) -> Result<Option<User>, StoreError> {
        self.get(&self.tables.users, user_id(pk))
            .await?
            .filter(|i| !super::deletion::is_tombstone(i))
            .map(|i| User::try_from(&i))
            .transpose()
    }

    /// Saves a profile change made to `user` as read (same `version`). A new username moves the
    /// uniqueness claim in the same transaction: the old name is released exactly when the
    /// new one is taken.
    pub async fn save_user(&self, user: &User, old_username: &str) -> Result<User, StoreError> {
        let renamed = user.username != old_username;
        let mut record = user.clone();
        // A new name takes its look-alike claim, released by the old name if that held one.
        let mut lookalike_moves = (None, None);
        if renamed {
            let new_lookalike = Claim::lookalike(&Username::of_record(&user.username));
            let old_lookalike = lookalike_id(&Username::of_record(old_username));
            let holds_old = record.claims.contains(&old_lookalike);
            if !(holds_old && new_lookalike.id == old_lookalike) {
                if holds_old {
                    record.claims.retain(|id| id != &old_lookalike);
                    lookalike_moves.0 = Some(old_lookalike);
                }
                record.claims.push(new_lookalike.id.clone());
                lookalike_moves.1 = Some(new_lookalike);
            }
        }

        let mut items = Vec::with_capacity(5);
        items.push(self.put_user_versioned(&record)?);
        // The items whose failed condition means the new name (or its look-alike) is taken.
        let mut name_items = Vec::new();
        if renamed {
            let mut creds =
                self.get_credentials(&Username::of_record(old_username)).await?.ok_or(StoreError::Contended)?;
            if creds.user_pk != user.pk {
                return Err(StoreError::Contended);
            }
            creds.username = user.username.clone();
            name_items.push(items.len());
            items.push(self.put_new(&self.tables.users, creds.to_item())?);
            let delete = Delete::builder()
                .table_name(&self.tables.users)
                .set_key(Some(key(claim_id(old_username))))
                .condition_expression("user_pk = :pk")
                .expression_attribute_values(":pk", n(user.pk))
                .build()
                .map_err(build_err)?;
            items.push(TransactWriteItem::builder().delete(delete).build());
            if let Some(old) = &lookalike_moves.0 {
                items.push(self.claim_release(old, user.pk)?);
            }
            if let Some(new) = &lookalike_moves.1 {
                name_items.push(items.len());
                items.push(self.put_new(&self.tables.users, new.to_item(user.pk))?);
            }
        }
        let outcome =
            if items.len() == 1 { self.put_alone(items.remove(0)).await? } else { self.transact(items).await? };
        match outcome {
            Ok(()) => Ok(User { version: record.version + 1, ..record }),
            Err(r) if name_items.contains(&r.index) => Err(StoreError::Taken(ClaimKind::Username)),
            Err(_) => Err(StoreError::Contended),
        }
    }

    /// A lone conditional Put costs half the write capacity of a one-item transaction.
    async fn put_alone(&self, item: TransactWriteItem) -> Result<Result<(), Rejected>, StoreError> {
        let put = item.put.ok_or_else(|| StoreError::Unavailable("put_alone needs a Put".into()))?;
        let result = self
            .client
            .put_item()
            .table_name(put.table_name)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_names(put.expression_attribute_names)
            .set_expression_attribute_values(put.expression_attribute_values)
            .send()
            .await;
        match unless_condition_failed(result)? {
            Some(_) => Ok(Ok(())),
            None => Ok(Err(Rejected { index: 0 })),
        }
    }

    /// Sets a new password hash and ends every session of the user (a new token epoch), opening
    /// the one session of the new epoch, all in one transaction, with `linked` (a reset's captcha,
    /// used up only if the password changes, and its phone claim still held).
    pub async fn change_password(
        &self,
        user: &User,
        new_hash: &str,
        session: &Grant,
        linked: &[LinkedWrite],
    ) -> Result<User, StoreError> {
        let (next, mut items) = self.new_epoch_items(user, session.epoch, Some(new_hash))?;
        items.extend(self.session_start_items(session)?);
        let linked_at = items.len();
        items.extend(linked.iter().map(|l| l.item.clone()));
        match self.transact(items).await? {
            Ok(()) => Ok(next),
            Err(r) => Err(super::refusal_of(linked, r.index.checked_sub(linked_at))),
        }
    }

    /// Disables (`Some(when)`) or enables (`None`) the account as read, over its version (a
    /// concurrent profile change is `Contended`, retried by the caller). Returns it as saved.
    pub async fn set_disabled(&self, user: &User, disabled_at: Option<u64>) -> Result<User, StoreError> {
        let next = User { disabled_at, ..user.clone() };
        match self.transact(vec![self.put_user_versioned(&next)?]).await? {
            Ok(()) => Ok(User { version: user.version + 1, ..next }),
            Err(_) => Err(StoreError::Contended),
        }
    }

    /// The condition every login's session write carries: the account is not disabled, checked
    /// in the transaction that opens the session, so that no login can slip past a disable.
    pub(crate) fn account_enabled(&self, pk: u64) -> Result<LinkedWrite, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.tables.users)
            .set_key(Some(key(user_id(pk))))
            .condition_expression("attribute_not_exists(disabled_at)")
            .build()
            .map_err(build_err)?;
        Ok(LinkedWrite {
            item: TransactWriteItem::builder().condition_check(check).build(),
            refused: || StoreError::AccountDisabled,
        })
    }

    /// Ends every session of the user at once: a new token epoch, in which no older 24 h token
    /// or refresh token is valid (both are checked against the user's epoch). Returns the user
    /// as saved. Password reset and account deletion call this (or compose `new_epoch_items`).
    pub async fn end_all_sessions(&self, user: &User) -> Result<User, StoreError> {
        let (next, items) = self.new_epoch_items(user, user.token_epoch + 1, None)?;
        match self.transact(items).await? {
            Ok(()) => Ok(next),
            Err(_) => Err(StoreError::Contended),
        }
    }

    /// The writes that move `user` (as read) to token epoch `epoch` on both records that carry
    /// it (the account and the username claim login reads), optionally with a new password
    /// hash; and the user as it will be saved.
    pub(crate) fn new_epoch_items(
        &self,
        user: &User,
        epoch: u64,
        new_hash: Option<&str>,
    ) -> Result<(User, Vec<TransactWriteItem>), StoreError> {
        let mut next = user.clone();
        next.token_epoch = epoch;
        let mut claim = Update::builder()
            .table_name(&self.tables.users)
            .set_key(Some(key(claim_id(&user.username))))
            .condition_expression("user_pk = :pk")
            .expression_attribute_values(":e", n(epoch))
            .expression_attribute_values(":pk", n(user.pk));
        claim = match new_hash {
            Some(hash) => claim
                .update_expression("SET password_hash = :h, token_epoch = :e")
                .expression_attribute_values(":h", s(hash)),
            None => claim.update_expression("SET token_epoch = :e"),
        };
        let items = vec![
            self.put_user_versioned(&next)?,
            TransactWriteItem::builder().update(claim.build().map_err(build_err)?).build(),
        ];
        Ok((User { version: next.version + 1, ..next }, items))
    }
}

impl Store {
    /// Names `keys` in the account before their objects are written, over the version read
    /// (a new version: a parallel upload or profile change that read the old one now fails its
    /// own condition). Returns the account as saved.
    pub async fn reserve_avatar_objects(&self, user: &User, keys: &[String]) -> Result<User, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .set_key(Some(key(user_id(user.pk))))
            .update_expression("ADD #objects :keys, version :one")
            .condition_expression("version = :v")
            .expression_attribute_names("#objects", AVATAR_OBJECTS)
            .expression_attribute_values(":keys", AttributeValue::Ss(keys.to_vec()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":v", n(user.version))
            .send()
            .await;
        match unless_condition_failed(result)? {
            Some(_) => {
                let mut next = User { version: user.version + 1, ..user.clone() };
                next.avatar_objects.extend(keys.iter().filter(|k| !user.avatar_objects.contains(k)).cloned());
                Ok(next)
            }
            None => Err(StoreError::Contended),
        }
    }

    /// Drops `keys`, whose objects are deleted, from the account or its tombstone. No version:
    /// a writer that read the names before puts back names of deleted objects, which the next
    /// clean-up deletes again (DeleteObject of a missing key succeeds), and never loses one.
    pub async fn forget_avatar_objects(&self, pk: u64, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .set_key(Some(key(user_id(pk))))
            .update_expression("DELETE #objects :keys")
            .condition_expression("attribute_exists(id)")
            .expression_attribute_names("#objects", AVATAR_OBJECTS)
            .expression_attribute_values(":keys", AttributeValue::Ss(keys.to_vec()))
            .send()
            .await;
        unless_condition_failed(result)?;
        Ok(())
    }
}

/// An account's Sign in with Apple refresh token and the client id it was issued to: kept only
/// to revoke it at Apple when the account is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppleCredentials {
    pub client_id: String,
    pub token: AppleToken,
}

/// Apple's refresh token at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppleToken {
    /// Sealed (social::apple): what every write since issue 29 stores.
    Sealed(String),
    /// Written readable before issue 29: still revoked, never written again.
    Plain(String),
}

fn apple_id(pk: u64) -> String {
    format!("apple#{pk}")
}

/// The accounts whose Apple credentials are owed a revocation (a number set): deletion adds the
/// pk in its own transaction, a revocation that succeeded removes it, and
/// `social::apple::retry_pending_revocations` retries the rest.
pub(crate) const APPLE_REVOCATIONS: &str = "revocations#apple";

impl Store {
    /// Keeps the latest Apple refresh token of account `pk`, sealed, until `expires_at` (the
    /// table's TTL; a new sign-in replaces it and its expiry).
    pub async fn put_apple_credentials(
        &self,
        pk: u64,
        client_id: &str,
        sealed: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let item = Item::from([
            (KEY.to_owned(), s(apple_id(pk))),
            ("user_pk".to_owned(), n(pk)),
            ("client_id".to_owned(), s(client_id)),
            ("sealed".to_owned(), s(sealed)),
            ("expires_at".to_owned(), n(expires_at)),
        ]);
        self.client
            .put_item()
            .table_name(&self.tables.users)
            .set_item(Some(item))
            .send()
            .await
            .map_err(super::unavailable)?;
        Ok(())
    }

    /// This user's stored Apple credentials, if any.
    pub async fn apple_credentials(&self, pk: u64) -> Result<Option<AppleCredentials>, StoreError> {
        let Some(item) = self.get(&self.tables.users, apple_id(pk)).await? else { return Ok(None) };
        let a = Attrs::of(&item);
        let token = match a.opt_s("sealed")? {
            Some(sealed) => AppleToken::Sealed(sealed),
            None => AppleToken::Plain(a.s("refresh_token")?),
        };
        Ok(Some(AppleCredentials { client_id: a.s("client_id")?, token }))
    }

    /// The writes, for the deletion's transaction, that record account `pk`'s Apple
    /// credentials as owed a revocation and keep them until `retry_until` (whatever their own
    /// expiry was). The credentials must still be there.
    pub(crate) fn apple_revocation_owed(
        &self,
        pk: u64,
        retry_until: u64,
    ) -> Result<[TransactWriteItem; 2], StoreError> {
        let owed = Update::builder()
            .table_name(&self.tables.users)
            .set_key(Some(key(APPLE_REVOCATIONS)))
            .update_expression("ADD pks :pk")
            .expression_attribute_values(":pk", AttributeValue::Ns(vec![pk.to_string()]))
            .build()
            .map_err(build_err)?;
        let kept = Update::builder()
            .table_name(&self.tables.users)
            .set_key(Some(key(apple_id(pk))))
            .update_expression("SET expires_at = :until")
            .condition_expression("attribute_exists(id)")
            .expression_attribute_values(":until", n(retry_until))
            .build()
            .map_err(build_err)?;
        Ok([TransactWriteItem::builder().update(owed).build(), TransactWriteItem::builder().update(kept).build()])
    }

    /// The accounts whose Apple credentials are owed a revocation.
    pub async fn pending_apple_revocations(&self) -> Result<Vec<u64>, StoreError> {
        let item = self.get(&self.tables.users, APPLE_REVOCATIONS).await?;
        Ok(match &item {
            Some(item) => Attrs::of(item).opt_ns("pks")?,
            None => Vec::new(),
        })
    }

    /// Account `pk`'s Apple credentials forgotten and no longer owed a revocation, in one
    /// transaction (after Apple revoked them, or once they are gone).
    pub async fn forget_apple_credentials(&self, pk: u64) -> Result<(), StoreError> {
        let delete = Delete::builder()
            .table_name(&self.tables.users)
            .set_key(Some(key(apple_id(pk))))
            .build()
            .map_err(build_err)?;
        let settled = Update::builder()
            .table_name(&self.tables.users)
            .set_key(Some(key(APPLE_REVOCATIONS)))
            .update_expression("DELETE pks :pk")
            .expression_attribute_values(":pk", AttributeValue::Ns(vec![pk.to_string()]))
            .build()
            .map_err(build_err)?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(settled).build(),
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(StoreError::Contended),
        }
    }
}

impl Store {
    /// Makes `e164` the account's one verified phone in one transaction: its claim taken, the
    /// old phone's claim released, the account's `phone` and claim list rewritten over the
    /// version read. Someone else's claim is `Taken { phone }` and nothing changes.
    /// The captcha that proved the phone (`linked`) is used up in the same transaction, so a
    /// refused bind leaves it usable.
    pub async fn bind_phone(&self, user: &User, phone: &Phone, linked: &LinkedWrite) -> Result<User, StoreError> {
        let claim = Claim::phone(phone);
        let mut next = user.clone();
        next.phone.clone_from(&phone.e164);
        let already_held = user.claims.contains(&claim.id);
        let old: Vec<String> = if already_held {
            Vec::new()
        } else {
            next.claims.retain(|id| !id.starts_with(PHONE_CLAIM));
            next.claims.push(claim.id.clone());
            user.claims.iter().filter(|id| id.starts_with(PHONE_CLAIM)).cloned().collect()
        };
        let mut items = vec![linked.item.clone(), self.put_user_versioned(&next)?];
        if !already_held {
            items.push(self.put_new(&self.tables.users, claim.to_item(user.pk))?);
        }
        for id in &old {
            items.push(self.claim_release(id, user.pk)?);
        }
        match self.transact(items).await? {
            Ok(()) => Ok(User { version: user.version + 1, ..next }),
            Err(r) if r.index == 0 => Err((linked.refused)()),
            Err(r) if r.index == 2 => Err(StoreError::Taken(claim.kind)),
            Err(_) => Err(StoreError::Contended),
        }
    }

    /// Uses up a matched captcha on its own, for a check whose change cannot share its
    /// transaction (AccountDelete's re-authentication).
    pub async fn consume_captcha_now(&self, linked: &LinkedWrite) -> Result<(), StoreError> {
        match self.transact(vec![linked.item.clone()]).await? {
            Ok(()) => Ok(()),
            Err(_) => Err((linked.refused)()),
        }
    }

    /// A condition, for the transaction that acts on account `pk` because it holds `claim` (a
    /// password reset by a verified phone, a login by a phone or a third-party id), that it still
    /// holds it when the transaction commits: the claim read earlier may have moved since (the
    /// owner bound another phone), and its old holder must not reach the account. Refused:
    /// `Contended`, and a retry reads the claim afresh.
    pub fn claim_held(&self, claim: &Claim, pk: u64) -> Result<LinkedWrite, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(&self.tables.users)
            .set_key(Some(key(claim.id.as_str())))
            .condition_expression("user_pk = :pk")
            .expression_attribute_values(":pk", n(pk))
            .build()
            .map_err(build_err)?;
        Ok(LinkedWrite {
            item: TransactWriteItem::builder().condition_check(check).build(),
            refused: || StoreError::Contended,
        })
    }

    /// Deletes the claim `id` if `pk` holds it; an absent claim is no obstacle (releasing is
    /// idempotent), one held by another account fails the transaction.
    pub(crate) fn claim_release(&self, id: &str, pk: u64) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.tables.users)
            .set_key(Some(key(id)))
            .condition_expression("attribute_not_exists(id) OR user_pk = :pk")
            .expression_attribute_values(":pk", n(pk))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        let mut u = User::new(7, "alice".into(), "0", 1007, "2026-01-01T00:00:00Z".into());
        u.token_epoch = 3;
        u.version = 2;
        u.nickname = "Alice".into();
        u.claims = vec!["phone#+8613800138000".into()];
        u.img = "https://cdn.example/avatars/7/1-3-ab-512.jpg".into();
        u.img_thumb = "https://cdn.example/avatars/7/1-3-ab-128.jpg".into();
        u.avatar_objects = vec!["avatars/7/1-3-ab-512.jpg".into(), "avatars/7/1-3-ab-128.jpg".into()];
        u
    }

    fn missing(err: StoreError) -> String {
        match err {
            StoreError::Corrupt { attribute, .. } => attribute,
            other => panic!("expected CorruptItem, got {other:?}"),
        }
    }

    #[test]
    fn a_user_reads_back_as_written() {
        assert_eq!(User::try_from(&user().to_item()).unwrap(), user());
    }

    #[test]
    fn a_user_without_pk_epoch_version_roomid_or_username_is_corrupt_not_user_zero() {
        for attribute in ["pk", "token_epoch", "version", "roomid", "username"] {
            let mut item = user().to_item();
            item.remove(attribute);
            assert_eq!(missing(User::try_from(&item).unwrap_err()), attribute);
        }
    }

    #[test]
    fn a_user_whose_pk_disagrees_with_its_key_is_corrupt() {
        let mut item = user().to_item();
        item.insert("pk".into(), n(8));
        assert_eq!(missing(User::try_from(&item).unwrap_err()), KEY);
    }

    #[test]
    fn absent_profile_text_reads_as_empty() {
        let mut item = user().to_item();
        for text in
            ["nickname", "sex", "age", "email", "phone", "country", "province", "city", "career", "img", "img_thumb"]
        {
            item.remove(text);
        }
        item.remove("claims");
        item.remove(AVATAR_OBJECTS);
        let read = User::try_from(&item).unwrap();
        assert_eq!((read.nickname.as_str(), read.pk, read.token_epoch), ("", 7, 3));
        assert!(read.claims.is_empty() && read.avatar_objects.is_empty());
    }

    #[test]
    fn credentials_need_their_account_and_epoch_but_not_a_password() {
        let creds = Credentials { username: "alice".into(), user_pk: 7, password_hash: None, token_epoch: 3 };
        let read = Credentials::try_from(&creds.to_item()).unwrap();
        assert_eq!((read.user_pk, read.token_epoch, read.password_hash), (7, 3, None));
        for attribute in ["user_pk", "token_epoch", "username"] {
            let mut item = creds.to_item();
            item.remove(attribute);
            assert_eq!(missing(Credentials::try_from(&item).unwrap_err()), attribute);
        }
        let mut item = creds.to_item();
        item.insert("password_hash".into(), n(1));
        assert_eq!(missing(Credentials::try_from(&item).unwrap_err()), "password_hash");
    }

    #[test]
    fn a_claim_names_its_owner() {
        let claim = Claim::phone(&Phone::parse("13800138000", &["86".to_owned()]).unwrap());
        let mut item = claim.to_item(7);
        assert_eq!(Attrs::of(&item).n("user_pk").unwrap(), 7);
        item.remove("user_pk");
        let err = Attrs::of(&item).n("user_pk").unwrap_err();
        assert!(!err.to_string().contains("13800138000"), "{err}");
    }
}
