//! /users/{pk}/: the owner reads (GET) or changes (PUT) the profile, username included.

use crate::auth::session;
use crate::http::ApiRequest;
use crate::validate::{self, ProfileInput};
use crate::{ApiResult, Context};

pub async fn handle(ctx: &Context, req: ApiRequest) -> ApiResult {
    let pk = req.path_pk()?;
    let fields = req.fields()?;
    let profile = ProfileInput::parse(&fields, false)?;
    let username = if fields.contains("username") { Some(validate::username(&fields, "username")?) } else { None };

    let session = session::authenticate(ctx, &req, Some(&fields)).await?;
    session::require_owner(ctx, &session, pk).await?;
    let mut user = session.user.clone();
    profile.apply_to(&mut user);
    if let Some(username) = username {
        user.username = username.into_string();
    }
    let saved = ctx.store.save_user(&user, &session.user.username).await?;
    Ok(super::user_response("修改成功", &saved, &session.token))
}

/// GET /users/{pk}/: one's own profile, with the same token (an app reopening shows the user
/// without logging in again).
pub async fn get(ctx: &Context, req: ApiRequest) -> ApiResult {
    let pk = req.path_pk()?;
    let fields = req.fields()?;
    let session = session::authenticate(ctx, &req, Some(&fields)).await?;
    session::require_owner(ctx, &session, pk).await?;
    Ok(super::user_response("查询成功", &session.user, &session.token))
}
