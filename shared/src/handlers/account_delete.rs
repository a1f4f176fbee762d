//! DELETE /users/{pk}/: the account's own token plus re-authentication (its password; without
//! one, a captcha for its verified phone; without either, a login younger than the configured
//! window: the login time of the token's session, which refreshes carry unchanged) deletes the
//! account: see store/deletion.rs for what happens, in which order, and what is left.

use crate::auth::session::{self, Credential};
use crate::auth::{captcha, lockout, tokens};
use crate::domain::Purpose;
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

    let (token, record) = session::presented_token(ctx, &req, Some(&fields)).await?;
    let (account, login) = ctx.store.account_and_session(record.user_pk, &record.session).await?;
    // A deletion of this account already happened (a parallel or retried DELETE): finish
    // removing its rooms and pictures, in case that request died midway, and say it is gone.
    if let Some(AccountState::Deleted { avatar_objects }) = &account {
        if record.user_pk == pk {
            finish(ctx, pk, avatar_objects).await?;
            return Err(ApiError::NotFound("user"));
        }
    }
    let hash = tokens::hash(&token);
    let (user, login) = session::live(&Credential::of_token(&record, &hash), account, login)?;
    // "A token issued less than 10 minutes ago" means a login that recent: a refresh issues new
    // tokens in the old login's session, and must not renew the proof (a stolen 30-day refresh
    // token is no re-authentication). A token older than sessions is its own login.
    let logged_in_at = login.map_or(record.issued_at, |s| s.created);
    session::require_caller(ctx, user.pk, pk).await?;

    reauthenticate(ctx, &user, req.source_ip(), logged_in_at, password, code).await?;
    let apple_owed = hooks::owed_to_apple(ctx, &user).await?;
    match ctx.store.retire_account(&user, apple_owed).await {
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
    if apple_owed.is_some() {
        hooks::revoke_at_apple(ctx, &user).await;
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
    logged_in_at: u64,
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
        let matched = captcha::redeem(ctx, phone, source_ip, Purpose::Delete, &code).await?;
        return Ok(ctx.store.consume_captcha_now(&matched.consume).await?);
    }
    let age = clock::now_unix().saturating_sub(logged_in_at);
    if age < ctx.config.delete_reauth_window.as_secs() {
        Ok(())
    } else {
        Err(ApiError::ReauthRequired)
    }
}

/// Where deletion calls out to third parties.
mod hooks {
    use crate::domain::User;
    use crate::{clock, ApiError, Context};

    /// Sign in with Apple credentials kept for this account must be revoked at Apple (API.md,
    /// AccountDelete; App Store guideline 5.1.1(v)): the deletion's own transaction records the
    /// revocation as owed, kept until the returned time, so that neither Apple failing nor this
    /// function dying loses it.
    pub async fn owed_to_apple(ctx: &Context, user: &User) -> Result<Option<u64>, ApiError> {
        let stored = ctx.store.apple_credentials(user.pk).await?;
        Ok(stored.map(|_| clock::now_unix() + ctx.config.sns.apple.revocation_retry.as_secs()))
    }

    /// The revocation, once the account is gone. A failure is logged and counted, and never
    /// fails the deletion: it stays owed, for `social::apple::retry_pending_revocations`.
    pub async fn revoke_at_apple(ctx: &Context, user: &User) {
        if let Err(err) = crate::social::apple::revoke(ctx, user.pk).await {
            tracing::warn!(error = %err, user_pk = user.pk, "Apple credentials not revoked yet: left for the retry");
            crate::metrics::count(crate::metrics::Metric::ProviderFailure);
        }
    }
}
