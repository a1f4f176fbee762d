//! The values the API is about: the account and the room as the API shows them, and what an
//! SMS code is for.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub pk: u64,
    pub username: String,
    pub nickname: String,
    pub sex: String,
    pub age: String,
    pub email: String,
    pub phone: String,
    pub country: String,
    pub province: String,
    pub city: String,
    pub career: String,
    pub login_type: String,
    pub img: String,
    /// The 128×128 thumbnail of an uploaded avatar; empty when `img` is a URL the app gave
    /// (that picture is its own thumbnail).
    pub img_thumb: String,
    /// Every S3 key this account may have objects under (docs/avatars.md): written before
    /// the objects are, removed after they are deleted, so that no object is ever unnamed.
    pub avatar_objects: Vec<String>,
    pub date_joined: String,
    pub roomid: u64,
    /// Tokens issued in an older epoch are dead (bumped by a password change).
    pub token_epoch: u64,
    /// Optimistic-concurrency counter: every write of the record requires the version it read.
    pub version: u64,
    /// Keys of the identity claims (verified phone, third-party ids) this account holds, so
    /// that PhoneBind can release the old phone and deletion every claim, without a scan.
    pub claims: Vec<String>,
    /// Set by an operator (tools/admin): when the account was disabled. A disabled account's
    /// tokens and refresh tokens are refused (auth::session::live) and no login opens a session
    /// for it (Store::start_session), until an operator enables it again.
    pub disabled_at: Option<u64>,
}

impl User {
    pub fn new(pk: u64, username: String, login_type: &str, roomid: u64, date_joined: String) -> Self {
        User {
            pk,
            username,
            nickname: String::new(),
            sex: "2".into(),
            age: String::new(),
            email: String::new(),
            phone: String::new(),
            country: String::new(),
            province: String::new(),
            city: String::new(),
            career: String::new(),
            login_type: login_type.into(),
            img: String::new(),
            img_thumb: String::new(),
            avatar_objects: Vec::new(),
            date_joined,
            roomid,
            token_epoch: 0,
            version: 0,
            claims: Vec::new(),
            disabled_at: None,
        }
    }

    /// The seed's user fields, every scalar a string, `password` always empty.
    pub fn to_fields(&self, token: &str) -> Map<String, Value> {
        let mut m = Map::with_capacity(19);
        let mut put = |k: &str, v: &str| {
            m.insert(k.to_owned(), Value::String(v.to_owned()));
        };
        put("pk", &self.pk.to_string());
        put("username", &self.username);
        put("password", "");
        put("nickname", &self.nickname);
        put("sex", &self.sex);
        put("age", &self.age);
        put("email", &self.email);
        put("phone", &self.phone);
        put("country", &self.country);
        put("province", &self.province);
        put("city", &self.city);
        put("career", &self.career);
        put("login_type", &self.login_type);
        put("img", &self.img);
        put("img_thumb", if self.img_thumb.is_empty() { &self.img } else { &self.img_thumb });
        put("date_joined", &self.date_joined);
        put("roomid", &self.roomid.to_string());
        put("token", token);
        m
    }
}

/// A room as stored; `owner_pk` is the account that created it (only it may change it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub pk: u64,
    pub roomid: u64,
    pub room_alias: String,
    pub active: bool,
    pub owner_pk: u64,
    pub version: u64,
}

impl Room {
    /// The seed's room fields: strings, except `active`, a boolean.
    pub fn to_fields(&self) -> Map<String, Value> {
        let mut m = Map::with_capacity(4);
        m.insert("pk".into(), Value::String(self.pk.to_string()));
        m.insert("roomid".into(), Value::String(self.roomid.to_string()));
        m.insert("room_alias".into(), Value::String(self.room_alias.clone()));
        m.insert("active".into(), Value::Bool(self.active));
        m
    }
}

/// What a code was sent for (POST /phonelogin/ `purpose`). Each endpoint that takes a code
/// accepts only its own: "send me the code you just got" from an attacker who wants to reset
/// a password, bind the victim's phone or delete the account cannot reuse a login code, and the
/// SMS says what the code does. The purpose is part of the code's HMAC, so a code redeemed for
/// another purpose is simply a wrong code (401 `invalid_captcha`, one try counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// PhoneLogin; what an app that sends no `purpose` gets (the seed's only use).
    Login,
    /// PasswordReset.
    Reset,
    /// PhoneBind.
    Bind,
    /// AccountDelete's re-authentication (and the data copy's).
    Delete,
}

impl Purpose {
    pub const ALL: [Purpose; 4] = [Purpose::Login, Purpose::Reset, Purpose::Bind, Purpose::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Login => "login",
            Purpose::Reset => "reset",
            Purpose::Bind => "bind",
            Purpose::Delete => "delete",
        }
    }
}
