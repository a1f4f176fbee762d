//! POST /logout/: the token stops working at once, and so does its login session: the
//! session's refresh token and every other 24 h token it issued. The end is one transaction
//! (store::sessions): a logout that fails changes nothing and its retry completes it.

use serde_json::Map;

use crate::auth::session;
use crate::http::{ApiRequest, ApiResponse};
use crate::{ApiResult, Context};

pub async fn handle(ctx: &Context, req: ApiRequest) -> ApiResult {
    let fields = req.fields()?;
    // A token already dead (revoked by a password change, its session ended) is not logged out
    // again: 401, as for any dead token.
    let caller = session::authenticate(ctx, &req, Some(&fields)).await?;
    session::end(ctx, &caller).await?;
    Ok(ApiResponse::ok("注销成功", Map::new()))
}
