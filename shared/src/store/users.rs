//! The user table. Three kinds of item share it, told apart by their key:
//! - `user#<pk>`: the account record;
//! - `username#<name>`: the claim that makes the username unique (NFKC-normalised), holding
//!   the credentials (password hash, token epoch) so that login is one read by username;
//! - `lockout#<name>`: login failure counts (see lockout.rs);
//! - `sns#<login_type>#<snsid>`, `phone#<e164>`: claims that link a third-party identity or a
//!   verified phone to one account;
//! - `apple#<pk>`: the Sign in with Apple refresh token of an account, kept only so that
//!   deleting the account can revoke it at Apple;
//! - `counter#...`: atomic counters (see counters.rs).

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};

use super::sessions::Grant;
use super::{
    build_err, get_n, get_opt_s, get_s, key, n, s, unless_condition_failed, Item, LinkedWrite, Rejected, Store, KEY,
};
use crate::domain::User;
use crate::ApiError;

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

fn claim_id(username: &str) -> String {
    format!("username#{username}")
}

/// A uniqueness claim, beside the username's, that a new account takes in the same transaction
/// that creates it, so that exactly one account ever owns the claimed identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    id: String,
    /// The request field named in the `Taken` error when someone else holds the claim.
    field: &'static str,
}

impl Claim {
    /// The third-party identity (login_type, snsid).
    pub fn sns(login_type: &str, snsid: &str) -> Self {
        Claim { id: format!("sns#{login_type}#{snsid}"), field: "snsid" }
    }

    /// A phone verified by SMS (never one merely typed into a profile).
    pub fn phone(e164: &str) -> Self {
        Claim { id: format!("phone#{e164}"), field: "phone" }
    }

    fn to_item(&self, user_pk: u64) -> Item {
        Item::from([(KEY.to_owned(), s(self.id.as_str())), ("user_pk".to_owned(), n(user_pk))])
    }
}

impl User {
    fn to_item(&self) -> Item {
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
            ("date_joined", &self.date_joined),
        ] {
            item.insert(name.into(), s(value.as_str()));
        }
        item.insert("roomid".into(), n(self.roomid));
        item.insert("token_epoch".into(), n(self.token_epoch));
        item.insert("version".into(), n(self.version));
        item
    }

    fn from_item(item: &Item) -> Self {
        User {
            pk: get_n(item, "pk"),
            username: get_s(item, "username"),
            nickname: get_s(item, "nickname"),
            sex: get_s(item, "sex"),
            age: get_s(item, "age"),
            email: get_s(item, "email"),
            phone: get_s(item, "phone"),
            country: get_s(item, "country"),
            province: get_s(item, "province"),
            city: get_s(item, "city"),
            career: get_s(item, "career"),
            login_type: get_s(item, "login_type"),
            img: get_s(item, "img"),
            date_joined: get_s(item, "date_joined"),
            roomid: get_n(item, "roomid"),
            token_epoch: get_n(item, "token_epoch"),
            version: get_n(item, "version"),
        }
    }
}

impl Credentials {
    fn to_item(&self) -> Item {
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

    fn from_item(item: &Item) -> Self {
        Credentials {
            username: get_s(item, "username"),
            user_pk: get_n(item, "user_pk"),
            password_hash: get_opt_s(item, "password_hash"),
            token_epoch: get_n(item, "token_epoch"),
        }
    }
}

impl Store {
    /// Writes a user record over the version it was read at.
    fn put_user_versioned(&self, user: &User) -> Result<TransactWriteItem, ApiError> {
        let next = User { version: user.version + 1, ..user.clone() };
        self.put_over_version(&self.tables.users, next.to_item(), user.version)
    }

    /// Creates the account, its username claim, its `claims` and its first session in one
    /// transaction, with `linked` if given: either all exist afterwards or none does. A claim
    /// someone else holds is `Taken` with the claim's field (the `claims` are checked first, so
    /// a taken identity is reported even when the username is taken too).
    pub async fn create_user(
        &self,
        user: &User,
        password_hash: Option<&str>,
        claims: &[Claim],
        session: &Grant,
        linked: Option<&LinkedWrite>,
    ) -> Result<(), ApiError> {
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
        items.push(self.put_new(&self.tables.users, user.to_item())?);
        items.extend(self.session_start_items(session)?);
        let linked_at = items.len();
        items.extend(linked.map(|l| l.item.clone()));
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(r) if r.index < claims.len() => Err(ApiError::Taken { field: claims[r.index].field }),
            Err(r) if r.index == claims.len() => Err(ApiError::Taken { field: "username" }),
            Err(r) => match linked {
                Some(l) if r.index == linked_at => Err((l.refused)()),
                _ => Err(ApiError::Contended),
            },
        }
    }

    /// The account holding `claim`, if any (strongly consistent: a claim written a moment ago
    /// by a concurrent request is seen).
    pub async fn claim_owner(&self, claim: &Claim) -> Result<Option<u64>, ApiError> {
        Ok(self.get(&self.tables.users, claim.id.as_str()).await?.as_ref().map(|item| get_n(item, "user_pk")))
    }

    pub async fn get_credentials(&self, username: &str) -> Result<Option<Credentials>, ApiError> {
        Ok(self.get(&self.tables.users, claim_id(username)).await?.as_ref().map(Credentials::from_item))
    }

    pub async fn get_user(&self, pk: u64) -> Result<Option<User>, ApiError> {
        Ok(self.get(&self.tables.users, user_id(pk)).await?.as_ref().map(User::from_item))
    }

    /// Saves a profile change made to `user` as read (same `version`). A new username moves the
    /// uniqueness claim in the same transaction: the old name is released exactly when the
    /// new one is taken.
    pub async fn save_user(&self, user: &User, old_username: &str) -> Result<User, ApiError> {
        let mut items = Vec::with_capacity(3);
        items.push(self.put_user_versioned(user)?);
        if user.username != old_username {
            let mut creds = self.get_credentials(old_username).await?.ok_or(ApiError::Contended)?;
            if creds.user_pk != user.pk {
                return Err(ApiError::Contended);
            }
            creds.username = user.username.clone();
            items.push(self.put_new(&self.tables.users, creds.to_item())?);
            let delete = Delete::builder()
                .table_name(&self.tables.users)
                .set_key(Some(key(claim_id(old_username))))
                .condition_expression("user_pk = :pk")
                .expression_attribute_values(":pk", n(user.pk))
                .build()
                .map_err(build_err)?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        let outcome =
            if items.len() == 1 { self.put_alone(items.remove(0)).await? } else { self.transact(items).await? };
        match outcome {
            Ok(()) => Ok(User { version: user.version + 1, ..user.clone() }),
            Err(r) if r.index == 1 => Err(ApiError::Taken { field: "username" }),
            Err(_) => Err(ApiError::Contended),
        }
    }

    /// A lone conditional Put costs half the write capacity of a one-item transaction.
    async fn put_alone(&self, item: TransactWriteItem) -> Result<Result<(), Rejected>, ApiError> {
        let put = item.put.ok_or_else(|| ApiError::Unavailable("put_alone needs a Put".into()))?;
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
    /// the one session of the new epoch, all in one transaction.
    pub async fn change_password(&self, user: &User, new_hash: &str, session: &Grant) -> Result<User, ApiError> {
        let (next, mut items) = self.new_epoch_items(user, session.epoch, Some(new_hash))?;
        items.extend(self.session_start_items(session)?);
        match self.transact(items).await? {
            Ok(()) => Ok(next),
            Err(_) => Err(ApiError::Contended),
        }
    }

    /// Ends every session of the user at once: a new token epoch, in which no older 24 h token
    /// or refresh token is valid (both are checked against the user's epoch). Returns the user
    /// as saved. Password reset and account deletion call this (or compose `new_epoch_items`).
    pub async fn end_all_sessions(&self, user: &User) -> Result<User, ApiError> {
        let (next, items) = self.new_epoch_items(user, user.token_epoch + 1, None)?;
        match self.transact(items).await? {
            Ok(()) => Ok(next),
            Err(_) => Err(ApiError::Contended),
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
    ) -> Result<(User, Vec<TransactWriteItem>), ApiError> {
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

/// An account's Sign in with Apple refresh token and the client id it was issued to: kept only
/// to revoke it at Apple when the account is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppleCredentials {
    pub client_id: String,
    pub refresh_token: String,
}

fn apple_id(pk: u64) -> String {
    format!("apple#{pk}")
}

impl Store {
    /// Keeps the latest Apple refresh token of account `pk` (a new sign-in replaces it).
    pub async fn put_apple_credentials(&self, pk: u64, creds: &AppleCredentials) -> Result<(), ApiError> {
        let item = Item::from([
            (KEY.to_owned(), s(apple_id(pk))),
            ("user_pk".to_owned(), n(pk)),
            ("client_id".to_owned(), s(creds.client_id.as_str())),
            ("refresh_token".to_owned(), s(creds.refresh_token.as_str())),
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
    pub async fn apple_credentials(&self, pk: u64) -> Result<Option<AppleCredentials>, ApiError> {
        Ok(self.get(&self.tables.users, apple_id(pk)).await?.map(|item| AppleCredentials {
            client_id: get_s(&item, "client_id"),
            refresh_token: get_s(&item, "refresh_token"),
        }))
    }

    pub async fn delete_apple_credentials(&self, pk: u64) -> Result<(), ApiError> {
        self.client
            .delete_item()
            .table_name(&self.tables.users)
            .set_key(Some(key(apple_id(pk))))
            .send()
            .await
            .map_err(super::unavailable)?;
        Ok(())
    }
}
