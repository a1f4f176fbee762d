//! PUT /password/ (and /users/password/): a new password ends every session (every older token
//! and refresh token) and opens the one new session.

use crate::auth::{lockout, passwords, session};
use crate::http::ApiRequest;
use crate::validate;
use crate::{ApiError, ApiResult, Context};

pub async fn handle(ctx: &Context, req: ApiRequest) -> ApiResult {
    let fields = req.fields()?;
    let username = validate::username_key(&fields, "username")?;
    let old_password = validate::password_attempt(&fields, "old_password")?;
    let new_password = validate::password(&fields, "password")?;

    let session = session::authenticate(ctx, &req, Some(&fields)).await?;
    if session.user.username != username.as_str() {
        return Err(ApiError::Forbidden);
    }
    // A wrong old password counts toward the same lockout as a wrong login.
    let creds = lockout::check_password(ctx, &username, req.source_ip(), old_password).await?;
    if creds.user_pk != session.user.pk {
        return Err(ApiError::Contended);
    }
    let hash = passwords::hash(new_password).await?;
    let issued = session::start(ctx, session.user.pk, session.user.token_epoch + 1)?;
    let user = ctx.store.change_password(&session.user, &hash, &issued.grant, &[]).await?;
    Ok(issued.response("修改成功", &user))
}
