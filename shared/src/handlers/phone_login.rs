//! GET /phonelogin/?phone=&captcha=: a verified phone logs into the account that verified it
//! first, or a new one. Only this endpoint's claim (`phone#<e164>`) links a phone to an
//! account: a phone typed into Register or UserInfo is unverified contact data and leads
//! nowhere. A new phone account is named `phone_<pk>`: its username never tells the number.

use crate::accounts::{self, Wish};
use crate::auth::captcha;
use crate::domain::Purpose;
use crate::domain::User;
use crate::http::ApiRequest;
use crate::phone::Phone;
use crate::store::Claim;
use crate::{ApiError, ApiResult, Context};

pub async fn handle(ctx: &Context, req: ApiRequest) -> ApiResult {
    let body = req.fields()?;
    // The seed sends both in the query string; a JSON body is accepted too.
    let param = |name: &'static str, max: usize| -> Result<String, ApiError> {
        match req.query_param(name) {
            Some(value) => body_free_text(name, value, max),
            None => body.required_text(name, max),
        }
    };
    let raw_phone = param("phone", 32)?;
    let code = param("captcha", 6)?;
    let cfg = &ctx.config.sms;
    let phone = Phone::parse(&raw_phone, &cfg.allowed_countries)?;
    captcha::check_format(&code)?;

    let matched = captcha::redeem(ctx, &phone.e164, req.source_ip(), Purpose::Login, &code).await?;

    let mut draft = User::new(0, String::new(), "0", 0, String::new());
    draft.nickname = phone.masked();
    draft.phone = phone.e164.clone();
    let claim = Claim::phone(&phone);
    // The code is used up in the transaction that writes the login, so a login that fails
    // leaves it usable, and of two concurrent uses exactly one logs in.
    let login = accounts::login_with_claim(ctx, &claim, Wish::Numbered("phone"), draft, Some(&matched.consume)).await?;
    Ok(login.issued.response("登录成功", &login.user))
}

/// A query-string value under the same length and character rules as a body field.
fn body_free_text(name: &'static str, value: &str, max: usize) -> Result<String, ApiError> {
    let mut map = serde_json::Map::new();
    map.insert(name.to_owned(), value.into());
    crate::validate::Fields::from_map(map).required_text(name, max)
}
