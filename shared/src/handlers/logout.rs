//! POST /logout/: the token stops working at once, and so does its login session: the
//! session's refresh token and every other 24 h token it issued.

use serde_json::Map;

use crate::auth::tokens;
use crate::http::{ApiRequest, ApiResponse};
use crate::{clock, ApiError, ApiResult, Context};

pub async fn handle(ctx: &Context, req: ApiRequest) -> ApiResult {
    let fields = req.fields()?;
    let token = req.token(Some(&fields))?.ok_or(ApiError::Unauthorized)?;
    tokens::check_format(&token)?;
    let record = ctx.store.delete_token(&tokens::hash(&token)).await?.ok_or(ApiError::Unauthorized)?;
    if record.expires_at <= clock::now_unix() {
        return Err(ApiError::Unauthorized);
    }
    // The token is gone; its session ends whatever the answer (a dead token's session is dead too).
    let (user, ()) = tokio::try_join!(ctx.store.get_user(record.user_pk), async {
        match record.session.as_str() {
            "" => Ok(()),
            id => ctx.store.end_session(id, clock::now_unix(), Some(&tokens::hash(&token))).await,
        }
    })?;
    // A token revoked by a password change was already dead: logging it out is not a success.
    if user.is_none_or(|u| u.token_epoch != record.epoch) {
        return Err(ApiError::Unauthorized);
    }
    Ok(ApiResponse::ok("注销成功", Map::new()))
}
