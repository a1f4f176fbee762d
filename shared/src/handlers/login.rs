//! POST /login/: username and password for a token.

use crate::auth::{lockout, session};
use crate::http::ApiRequest;
use crate::validate;
use crate::{ApiError, ApiResult, Context};

pub async fn handle(ctx: &Context, req: ApiRequest) -> ApiResult {
    let fields = req.fields()?;
    let username = validate::username_key(&fields, "username")?;
    let password = validate::password_attempt(&fields, "password")?;

    let creds = lockout::check_password(ctx, &username, req.source_ip(), password).await?;
    let issued = session::start(ctx, creds.user_pk, creds.token_epoch)?;
    let (user, ()) = tokio::try_join!(ctx.store.get_user(creds.user_pk), ctx.store.start_session(&issued.grant, &[]))?;
    let user = user.ok_or(ApiError::BadCredentials)?;
    if user.token_epoch != creds.token_epoch {
        // The password changed between our two reads; this token was born revoked.
        return Err(ApiError::Contended);
    }
    Ok(issued.response("登录成功", &user))
}
