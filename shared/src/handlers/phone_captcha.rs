//! POST /phonelogin/: sends a 6-digit code by SMS. The code is never in a response or a log.

use serde_json::Map;

use crate::auth::captcha;
use crate::http::{ApiRequest, ApiResponse};
use crate::phone::Phone;
use crate::store::captcha::NewCode;
use crate::{clock, ApiResult, Context};

pub async fn handle(ctx: &Context, req: ApiRequest) -> ApiResult {
    let fields = req.fields()?;
    let raw = fields.required_text("phone", 32)?;
    let cfg = &ctx.config.sms;
    let phone = Phone::parse(&raw, &cfg.allowed_countries)?;

    let code = captcha::generate()?;
    let new = NewCode {
        phone: &phone.e164,
        country: &phone.country,
        source_ip: req.source_ip(),
        code_hash: captcha::digest(cfg.code_secret.expose(), &phone.e164, &code),
        now: clock::now_unix(),
    };
    let reserved = ctx.store.reserve_sms(&new, cfg).await?;

    let text = cfg.message_template.replace("{code}", &code);
    if let Err(err) = ctx.sms.send(&phone.e164, &text).await {
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
