//! POST /logout/: the token stops working at once.

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
    // A token revoked by a password change was already dead: logging it out is not a success.
    let user = ctx.store.get_user(record.user_pk).await?;
    if user.is_none_or(|u| u.token_epoch != record.epoch) {
        return Err(ApiError::Unauthorized);
    }
    Ok(ApiResponse::ok("注销成功", Map::new()))
}
