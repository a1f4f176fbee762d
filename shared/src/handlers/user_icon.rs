//! PUT /users/icon/{pk}/: the owner sets the avatar URL.

use crate::auth::session;
use crate::http::ApiRequest;
use crate::validate;
use crate::{ApiResult, Context};

pub async fn handle(ctx: &Context, req: ApiRequest) -> ApiResult {
    let pk = req.path_pk()?;
    let fields = req.fields()?;
    let icon = validate::http_url(&fields, "icon")?;

    let session = session::authenticate(ctx, &req, Some(&fields)).await?;
    session::require_owner(ctx, &session, pk).await?;
    let mut user = session.user.clone();
    user.img = icon;
    let saved = ctx.store.save_user(&user, &session.user.username).await?;
    Ok(super::user_response("修改成功", &saved, &session.token))
}
