//! POST /token/refresh/: a refresh token for a new 24 h token and a new refresh token in the
//! same session (auth::refresh has the rotation rules).

use crate::auth::refresh;
use crate::http::ApiRequest;
use crate::{ApiResult, Context};

/// A refresh token is 64 hex digits; a longer value is refused before any store work.
const REFRESH_TOKEN_MAX: usize = 64;

pub async fn handle(ctx: &Context, req: ApiRequest) -> ApiResult {
    let fields = req.fields()?;
    let presented = fields.required_text("refresh_token", REFRESH_TOKEN_MAX)?;
    let (user, issued) = refresh::rotate(ctx, &presented).await?;
    Ok(issued.response("刷新成功", &user))
}
