//! POST /login/: username and password for a token.

use crate::auth::{lockout, passwords, session};
use crate::http::ApiRequest;
use crate::store::users::Credentials;
use crate::validate::{self, PASSWORD_MAX, PASSWORD_MIN};
use crate::{ApiError, ApiResult, Context};

pub async fn handle(ctx: &Context, req: ApiRequest) -> ApiResult {
    let fields = req.fields()?;
    let username = validate::username_key(&fields, "username")?;
    let password = validate::password_attempt(&fields, "password")?;
    // A legacy password of any length logs in (API.md); the answer says when it should change.
    let change_required = !(PASSWORD_MIN..=PASSWORD_MAX).contains(&password.chars().count());

    let creds = match lockout::check_password(ctx, &username, req.source_ip(), password.clone()).await {
        // Counted by the lockout like any attempt; only then may the legacy server be asked.
        #[cfg(feature = "legacy-login")]
        Err(ApiError::BadCredentials) if ctx.legacy.is_some() => {
            crate::legacy::migrate(ctx, &username, password.clone()).await?
        }
        checked => checked?,
    };
    let issued = session::start(ctx, creds.user_pk, creds.token_epoch)?;
    let (user, (), ()) = tokio::try_join!(
        async { ctx.store.get_user(creds.user_pk).await.map_err(ApiError::from) },
        async { ctx.store.start_session(&issued.grant, &[]).await.map_err(ApiError::from) },
        upgrade_legacy_hash(ctx, &creds, password),
    )?;
    let user = user.ok_or(ApiError::BadCredentials)?;
    if user.token_epoch != creds.token_epoch {
        // The password changed between our two reads; this token was born revoked.
        return Err(ApiError::Contended);
    }
    let mut answer = issued.response("登录成功", &user);
    if change_required {
        answer.fields.insert("password_change_required".into(), "true".into());
    }
    Ok(answer)
}

/// The first successful login with an imported legacy password replaces its wrap by a plain
/// argon2id of the password (store::upgrade_password_hash says why two at once are fine).
async fn upgrade_legacy_hash(ctx: &Context, creds: &Credentials, password: String) -> Result<(), ApiError> {
    let Some(old) = creds.password_hash.as_deref().filter(|h| passwords::is_wrapped(h)) else { return Ok(()) };
    let new = passwords::hash(password).await?;
    ctx.store.upgrade_password_hash(creds, old, &new).await?;
    Ok(())
}
