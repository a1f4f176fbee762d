//! PUT /users/icon/{pk}/: the owner sets the avatar, as a URL (the seed's JSON) or as the
//! picture itself, which the server re-encodes into S3 (API.md "Avatar images", crate::avatars).

use crate::auth::session;
use crate::avatars::upload::{self, Upload};
use crate::avatars::{self, picture};
use crate::http::ApiRequest;
use crate::validate::{self, Fields};
use crate::{ApiResult, Context};

pub async fn handle(ctx: &Context, mut req: ApiRequest) -> ApiResult {
    let pk = req.path_pk()?;
    match upload::read(&mut req, ctx.config.max_body_bytes)? {
        Upload::Url(fields) => set_url(ctx, &req, pk, fields).await,
        Upload::Image { bytes, fields } => {
            // Size, type and declared dimensions first: no store call, no pixel, for a refusal.
            picture::inspect(&bytes)?;
            let session = session::authenticate(ctx, &req, fields.as_ref()).await?;
            session::require_owner(ctx, &session, pk).await?;
            // Decoded only for the owner: nobody else can make this function spend its CPU.
            let rendered = picture::render_blocking(bytes).await?;
            let saved = avatars::replace(ctx, &session.user, rendered).await?;
            Ok(super::user_response("修改成功", &saved, &session.token))
        }
    }
}

async fn set_url(ctx: &Context, req: &ApiRequest, pk: u64, fields: Fields) -> ApiResult {
    let icon = validate::http_url(&fields, "icon")?;
    let session = session::authenticate(ctx, req, Some(&fields)).await?;
    session::require_owner(ctx, &session, pk).await?;
    let mut user = session.user.clone();
    user.img = icon;
    // A URL is its own thumbnail; an uploaded avatar it replaces is deleted below.
    user.img_thumb.clear();
    let saved = ctx.store.save_user(&user, &session.user.username).await?;
    avatars::clean_up(ctx, &saved, &session.user).await;
    Ok(super::user_response("修改成功", &saved, &session.token))
}
