//! Who is calling: a token is valid when its record exists, has not expired (checked here, not
//! left to DynamoDB's TTL sweeper), and was issued in the user's current token epoch (a password
//! change starts a new epoch, revoking every older token at once). The session a token belongs
//! to is not read here: ending a session deletes its tokens (store::sessions), so checking a
//! token stays one read of the token (plus the account it belongs to).

use crate::auth::tokens::{self, NewToken};
use crate::domain::User;
use crate::http::{ApiRequest, ApiResponse};
use crate::store::{Grant, TokenRecord};
use crate::validate::Fields;
use crate::{clock, ApiError, Context};

pub struct Session {
    pub token: String,
    pub user: User,
}

pub async fn authenticate(ctx: &Context, req: &ApiRequest, body: Option<&Fields>) -> Result<Session, ApiError> {
    let (token, record) = presented_token(ctx, req, body).await?;
    let user = ctx.store.get_user(record.user_pk).await?.ok_or(ApiError::Unauthorized)?;
    if user.token_epoch != record.epoch {
        return Err(ApiError::Unauthorized);
    }
    Ok(Session { token, user })
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
