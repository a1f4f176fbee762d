//! POST /password/reset/: a captcha for a verified phone sets a new password on the account
//! that holds that phone, revokes every older token, clears the login lockout and issues one
//! new token.

use crate::auth::captcha;
use crate::auth::{passwords, session};
use crate::domain::Purpose;
use crate::http::ApiRequest;
use crate::phone::Phone;
use crate::store::Claim;
use crate::validate::{self, Username};
use crate::{ApiError, ApiResult, Context};

pub async fn handle(ctx: &Context, req: ApiRequest) -> ApiResult {
    let fields = req.fields()?;
    let raw_phone = fields.required_text("phone", 32)?;
    let code = fields.required_text("captcha", 6)?;
    let password = validate::password(&fields, "password")?;
    let phone = Phone::parse(&raw_phone, &ctx.config.sms.allowed_countries)?;
    captcha::check_format(&code)?;

    let matched = captcha::redeem(ctx, &phone.e164, req.source_ip(), Purpose::Reset, &code).await?;
    // The code proved the phone; without an account it stays usable for PhoneLogin, which
    // creates one (it is used up only in the transaction that changes the password).
    let claim = Claim::phone(&phone);
    let pk = ctx.store.claim_owner(&claim).await?.ok_or(ApiError::NoAccount)?;
    let user = ctx.store.get_user(pk).await?.ok_or(ApiError::Contended)?;
    // A reset is a login: a disabled account gets none, and no new password either (the write
    // below is over the version read, so a disable meanwhile refuses it).
    if user.disabled_at.is_some() {
        return Err(ApiError::AccountDisabled);
    }
    let hash = passwords::hash(password).await?;
    // Every older session ends (a new token epoch) and the one new session opens, with the
    // code's use, in one transaction that also holds the phone still to be this account's: had
    // the owner moved to another phone since the claim was read, the old number's holder would
    // reset an account that is no longer theirs to reach (503; the retry finds no account).
    let issued = session::start(ctx, pk, user.token_epoch + 1)?;
    let linked = [matched.consume, ctx.store.claim_held(&claim, pk)?];
    let user = ctx.store.change_password(&user, &hash, &issued.grant, &linked).await?;
    // The one store function that lifts every lockout of the username.
    ctx.store.clear_login_failures(&Username::of_account(&user)).await?;
    Ok(issued.response("重置成功", &user))
}
