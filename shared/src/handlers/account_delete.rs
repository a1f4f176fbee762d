//! DELETE /users/{pk}/: the account's own token plus re-authentication (its password; without
//! one, a captcha for its verified phone; without either, a token younger than the
//! configured window) deletes the account: see store/deletion.rs for what happens, in which
//! order, and what is left.

use crate::auth::{captcha, lockout, session};
use crate::http::{ApiRequest, ApiResponse};
use crate::store::deletion::AccountState;
use crate::store::StoreError;
use crate::validate::{self, Username};
use crate::{clock, ApiError, ApiResult, Context};

pub async fn handle(ctx: &Context, req: ApiRequest) -> ApiResult {
    let pk = req.path_pk()?;
    let fields = req.fields()?;
    let password =
        if fields.contains("password") { Some(validate::password_attempt(&fields, "password")?) } else { None };
    let code = fields.optional_text("captcha", 6)?;
    if let Some(code) = &code {
        captcha::check_format(code)?;
    }

    let (_, record) = session::presented_token(ctx, &req, Some(&fields)).await?;
    let user = match ctx.store.account_state(record.user_pk).await? {
        Some(AccountState::Live(user)) if user.token_epoch == record.epoch => *user,
        // A deletion of this account already happened (a parallel or retried DELETE): finish
        // removing its rooms and pictures, in case that request died midway, and say it is gone.
        Some(AccountState::Deleted { avatar_objects }) if record.user_pk == pk => {
            finish(ctx, pk, &avatar_objects).await?;
            return Err(ApiError::NotFound("user"));
        }
        _ => return Err(ApiError::Unauthorized),
    };
    session::require_caller(ctx, user.pk, pk).await?;

    reauthenticate(ctx, &user, req.source_ip(), record.issued_at, password, code).await?;
    hooks::before_delete(ctx, &user).await;
    match ctx.store.retire_account(&user).await {
        Ok(()) => {}
        // A parallel DELETE won: it is gone, whoever deleted it. Otherwise the profile changed
        // since it was read, and the client may retry.
        Err(StoreError::Contended) => {
            return match ctx.store.account_state(pk).await? {
                Some(AccountState::Deleted { avatar_objects }) => {
                    finish(ctx, pk, &avatar_objects).await?;
                    Err(ApiError::NotFound("user"))
                }
                _ => Err(ApiError::Contended),
            };
        }
        Err(err) => return Err(err.into()),
    }
    finish(ctx, pk, &user.avatar_objects).await?;
    Ok(ApiResponse::no_content())
}

/// Steps 2 and 3 of store/deletion.rs, once the tombstone is written: the rooms, then the
/// avatar objects the tombstone names. Both are safe to run again.
async fn finish(ctx: &Context, pk: u64, avatar_objects: &[String]) -> Result<(), ApiError> {
    ctx.store.delete_owned_rooms(pk).await?;
    if !avatar_objects.is_empty() {
        crate::avatars::erase(ctx, pk, avatar_objects).await?;
    }
    Ok(())
}

/// Proof, beyond a possibly stolen token, that the owner is deleting the account.
async fn reauthenticate(
    ctx: &Context,
    user: &crate::domain::User,
    source_ip: &str,
    token_issued_at: u64,
    password: Option<String>,
    code: Option<String>,
) -> Result<(), ApiError> {
    let username = Username::of_account(user);
    let creds = ctx.store.get_credentials(&username).await?;
    if creds.as_ref().is_some_and(|c| c.password_hash.is_some()) {
        // Missing proof is an authentication failure, not a malformed request: the body is valid
        // whatever the account holds (openapi.yaml), only this account needs a password.
        let password = password.ok_or(ApiError::ReauthRequired)?;
        // Wrong passwords count toward the login lockout, as on /login/.
        let creds = lockout::check_password(ctx, &username, source_ip, password).await?;
        return if creds.user_pk == user.pk { Ok(()) } else { Err(ApiError::Contended) };
    }
    if let Some(phone) = user.verified_phone() {
        let code = code.ok_or(ApiError::ReauthRequired)?;
        let matched = captcha::redeem(ctx, phone, &code).await?;
        return Ok(ctx.store.consume_captcha_now(&matched.consume).await?);
    }
    let age = clock::now_unix().saturating_sub(token_issued_at);
    if age < ctx.config.delete_reauth_window.as_secs() {
        Ok(())
    } else {
        Err(ApiError::ReauthRequired)
    }
}

/// Where deletion calls out to third parties before the account is gone.
mod hooks {
    use crate::domain::User;
    use crate::Context;

    /// Sign in with Apple credentials kept for this account are revoked at Apple (API.md,
    /// AccountDelete; App Store guideline 5.1.1(v)). A failure is logged and counted, and never
    /// blocks the deletion; the stored token then stays for a later retry.
    pub async fn before_delete(ctx: &Context, user: &User) {
        match crate::social::apple::revoke(ctx, user.pk).await {
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, user_pk = user.pk, "Apple credentials not revoked");
                crate::metrics::count(crate::metrics::Metric::ProviderFailure);
            }
        }
    }
}
