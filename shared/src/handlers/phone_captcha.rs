//! POST /phonelogin/: sends a 6-digit code by SMS, for one purpose, in the registered text of
//! the app's language. The code is never in a response or a log.

use lambda_http::http::header::ACCEPT_LANGUAGE;
use serde_json::Map;

use crate::auth::captcha;
use crate::http::{ApiRequest, ApiResponse};
use crate::phone::Phone;
use crate::sms::Sender;
use crate::sms_templates::Lang;
use crate::store::captcha::NewCode;
use crate::{clock, ApiResult, Context};

pub async fn handle(ctx: &Context, req: ApiRequest) -> ApiResult {
    let fields = req.fields()?;
    let raw = fields.required_text("phone", 32)?;
    let cfg = &ctx.config.sms;
    let phone = Phone::parse(&raw, &cfg.allowed_countries)?;
    let purpose = captcha::purpose(&fields)?;
    let lang = Lang::from_accept_language(req.headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()));

    let code = captcha::generate()?;
    let new = NewCode {
        phone: &phone.e164,
        country: &phone.country,
        source_ip: req.source_ip(),
        code_hash: captcha::digest(cfg.code_secret.expose(), &phone.e164, purpose, &code),
        now: clock::now_unix(),
    };
    let reserved = ctx.store.reserve_sms(&new, cfg).await?;

    let message = cfg.templates.render(purpose, lang, &code, cfg.code_ttl.as_secs().div_ceil(60));
    if let Err(err) = ctx.sms.send(&phone.e164, &message).await {
        // The SMS never left: the phone keeps its slot and its daily allowance.
        crate::metrics::count(crate::metrics::Metric::CaptchaFailed);
        crate::metrics::count(crate::metrics::Metric::ProviderFailure);
        if let Err(release) = ctx.store.release_sms(&new, &reserved).await {
            tracing::error!(error = %release, "could not release an unsent SMS reservation");
        }
        return Err(err);
    }
    let mut fields = Map::new();
    fields.insert("expires_in".into(), cfg.code_ttl.as_secs().to_string().into());
    fields.insert("resend_after".into(), cfg.resend_interval.as_secs().to_string().into());
    Ok(ApiResponse::ok("验证码已发送", fields))
}
