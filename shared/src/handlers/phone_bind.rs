//! PUT /users/phone/{pk}/: a phone proven by a captcha from POST /phonelogin/ becomes the
//! account's verified phone (the one SMS login and password reset reach); the old one is
//! released. A phone another account holds is 409, nothing changes and the code stays usable.

use crate::auth::captcha;
use crate::auth::session;
use crate::domain::Purpose;
use crate::http::ApiRequest;
use crate::phone::Phone;
use crate::{ApiResult, Context};

pub async fn handle(ctx: &Context, req: ApiRequest) -> ApiResult {
    let pk = req.path_pk()?;
    let fields = req.fields()?;
    let raw_phone = fields.required_text("phone", 32)?;
    let code = fields.required_text("captcha", 6)?;
    let phone = Phone::parse(&raw_phone, &ctx.config.sms.allowed_countries)?;
    captcha::check_format(&code)?;

    let session = session::authenticate(ctx, &req, Some(&fields)).await?;
    session::require_owner(ctx, &session, pk).await?;
    // The code is checked before anything about the phone's owner is revealed: without it, a
    // 409 would tell anyone with an account which phones are registered.
    let matched = captcha::redeem(ctx, &phone.e164, req.source_ip(), Purpose::Bind, &code).await?;
    let user = ctx.store.bind_phone(&session.user, &phone, &matched.consume).await?;
    Ok(super::user_response("绑定成功", &user, &session.token))
}
