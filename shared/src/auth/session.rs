//! Who is calling. [`live`] is the one place that decides whether a credential (a 24 h token
//! or a refresh token) still stands, from the account and the login session it names, read
//! together in one BatchGetItem after the credential itself:
//! - the account exists and is not deleted;
//! - the credential was issued in the account's current token epoch (a password change or
//!   reset starts a new epoch: every older token and refresh token dies at once);
//! - its login session exists, belongs to that account and epoch, and has not ended (logout,
//!   theft detection, and later an operator or the session endpoints end one session with one
//!   write: its tokens are refused from that write on, even if their items survive);
//! - a 24 h token is still listed by its session (a rotation that evicts a token removes it).
//!
//! A token also has to be unexpired (checked here, not left to DynamoDB's TTL sweeper).
//! A credential that passes all of that on an account an operator disabled is 403
//! `account_disabled`, not 401: only a valid credential learns that the account is disabled.

use crate::auth::tokens::{self, NewToken};
use crate::domain::User;
use crate::http::{ApiRequest, ApiResponse};
use crate::store::deletion::AccountState;
use crate::store::{Grant, SessionRecord, TokenRecord};
use crate::validate::Fields;
use crate::{clock, ApiError, Context};

pub struct Session {
    pub token: String,
    pub user: User,
    /// The token's record and its login session (none for a token older than sessions).
    pub record: TokenRecord,
    pub login: Option<SessionRecord>,
}

/// What a credential claims, for [`live`] to hold against the account and session it names.
pub struct Credential<'a> {
    pub user_pk: u64,
    /// The login session ("" for a 24 h token older than sessions).
    pub session: &'a str,
    /// A 24 h token's epoch and hash; a refresh token carries neither (its session's epoch
    /// stands for it).
    pub token: Option<(u64, &'a str)>,
}

impl<'a> Credential<'a> {
    /// A 24 h token: its record and its hash.
    pub fn of_token(record: &'a TokenRecord, hash: &'a str) -> Self {
        Credential { user_pk: record.user_pk, session: &record.session, token: Some((record.epoch, hash)) }
    }
}

pub async fn authenticate(ctx: &Context, req: &ApiRequest, body: Option<&Fields>) -> Result<Session, ApiError> {
    let (token, record) = presented_token(ctx, req, body).await?;
    let (account, login) = ctx.store.account_and_session(record.user_pk, &record.session).await?;
    let hash = tokens::hash(&token);
    let (user, login) = live(&Credential::of_token(&record, &hash), account, login)?;
    Ok(Session { token, user, record, login })
}

/// Whether `credential` still stands, given the account and the session it names as read (see
/// the module doc): the live account and the open session, or 401.
pub fn live(
    credential: &Credential,
    account: Option<AccountState>,
    login: Option<SessionRecord>,
) -> Result<(User, Option<SessionRecord>), ApiError> {
    let Some(AccountState::Live(user)) = account else { return Err(ApiError::Unauthorized) };
    if user.pk != credential.user_pk || credential.token.is_some_and(|(epoch, _)| epoch != user.token_epoch) {
        return Err(ApiError::Unauthorized);
    }
    let login = if credential.session.is_empty() {
        // Only 24 h tokens older than sessions (or imported) have none: the epoch is their check.
        if credential.token.is_none() {
            return Err(ApiError::Unauthorized);
        }
        None
    } else {
        let login = login.ok_or(ApiError::Unauthorized)?;
        let open = login.id == credential.session
            && login.ended_at.is_none()
            && login.user_pk == user.pk
            && login.epoch == user.token_epoch;
        let listed = credential.token.is_none_or(|(_, hash)| login.tokens.iter().any(|(h, _)| h == hash));
        if !(open && listed) {
            return Err(ApiError::Unauthorized);
        }
        Some(login)
    };
    if user.disabled_at.is_some() {
        return Err(ApiError::AccountDisabled);
    }
    Ok((*user, login))
}

/// The token the request carries and its unexpired record, before anything about the account
/// is known (AccountDelete also needs the record of a token whose account is being deleted).
pub async fn presented_token(
    ctx: &Context,
    req: &ApiRequest,
    body: Option<&Fields>,
) -> Result<(String, TokenRecord), ApiError> {
    let token = req.token(body)?.ok_or(ApiError::Unauthorized)?;
    tokens::check_format(&token)?;
    let record = ctx.store.get_token(&tokens::hash(&token)).await?.ok_or(ApiError::Unauthorized)?;
    if record.expires_at <= clock::now_unix() {
        return Err(ApiError::Unauthorized);
    }
    Ok((token, record))
}

/// Logout: the caller's login session ends (one transaction: see `Store::end_session`); a
/// token without a session is deleted alone.
pub async fn end(ctx: &Context, session: &Session) -> Result<(), ApiError> {
    match &session.login {
        Some(login) => ctx.store.end_session(login, clock::now_unix()).await?,
        None => {
            ctx.store.delete_token(&tokens::hash(&session.token)).await?;
        }
    }
    Ok(())
}

/// What a login hands out: a 24 h token and a refresh token in a new session (or, at a
/// rotation, in the session being refreshed). The plain values go to the client once; `grant`
/// holds only their hashes, for the store.
pub struct Issued {
    pub token: NewToken,
    pub refresh: NewToken,
    pub grant: Grant,
}

impl Issued {
    /// The answer of every endpoint that issues a token: user fields, `token`, `refresh_token`
    /// and `refresh_expires_in` (seconds).
    pub fn response(&self, msg: &'static str, user: &User) -> ApiResponse {
        let mut fields = user.to_fields(&self.token.plain);
        fields.insert("refresh_token".into(), self.refresh.plain.clone().into());
        let left = self.grant.refresh_expires_at.saturating_sub(clock::now_unix());
        fields.insert("refresh_expires_in".into(), left.to_string().into());
        ApiResponse::ok(msg, fields)
    }
}

/// A new login session for `user_pk` in token epoch `epoch`: the one function every
/// token-issuing endpoint calls (then writes `grant` with the store's session writes).
pub fn start(ctx: &Context, user_pk: u64, epoch: u64) -> Result<Issued, ApiError> {
    issue(ctx, tokens::generate_session_id()?, user_pk, epoch)
}

/// A token and a refresh token in session `session`.
pub(crate) fn issue(ctx: &Context, session: String, user_pk: u64, epoch: u64) -> Result<Issued, ApiError> {
    let token = tokens::generate()?;
    let refresh = tokens::generate_refresh()?;
    let now = clock::now_unix();
    let grant = Grant {
        session,
        user_pk,
        epoch,
        token_hash: token.hash.clone(),
        token_expires_at: now + ctx.config.token_ttl.as_secs(),
        issued_at: now,
        refresh_hash: refresh.hash.clone(),
        refresh_expires_at: now + ctx.config.refresh_ttl.as_secs(),
    };
    Ok(Issued { token, refresh, grant })
}

/// Ends every session of `user`: all its 24 h tokens and refresh tokens stop working at once.
/// Password reset and account deletion call this (or compose the store's epoch writes with
/// their own in one transaction, as password change does).
pub async fn end_all(ctx: &Context, user: &User) -> Result<User, ApiError> {
    Ok(ctx.store.end_all_sessions(user).await?)
}

/// The caller may change account `pk` only with that account's own token. Someone else's
/// account is 403; an account that does not exist is 404.
pub async fn require_owner(ctx: &Context, session: &Session, pk: u64) -> Result<(), ApiError> {
    require_caller(ctx, session.user.pk, pk).await
}

/// `require_owner` for a caller known by pk.
pub async fn require_caller(ctx: &Context, caller_pk: u64, pk: u64) -> Result<(), ApiError> {
    if caller_pk == pk {
        return Ok(());
    }
    match ctx.store.get_user(pk).await? {
        Some(_) => Err(ApiError::Forbidden),
        None => Err(ApiError::NotFound("user")),
    }
}
