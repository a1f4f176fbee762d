//! Who is calling: a token is valid when its record exists, has not expired (checked here, not
//! left to DynamoDB's TTL sweeper), and was issued in the user's current token epoch (a password
//! change starts a new epoch, revoking every older token at once).

use crate::auth::tokens;
use crate::domain::User;
use crate::http::ApiRequest;
use crate::store::TokenRecord;
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

/// A fresh token for `user_pk` in token epoch `epoch`, expiring after the configured TTL.
pub fn new_token(ctx: &Context, user_pk: u64, epoch: u64) -> Result<(tokens::NewToken, TokenRecord), ApiError> {
    let token = tokens::generate()?;
    let now = clock::now_unix();
    let record = TokenRecord { user_pk, epoch, expires_at: now + ctx.config.token_ttl.as_secs(), issued_at: now };
    Ok((token, record))
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
