//! POST /snslogin/: WeChat, QQ, Weibo or Sign in with Apple login. The provider vouches for (access_token, snsid)
//! first; the account is then the one holding the `sns#<login_type>#<snsid>` claim, or a new
//! one created with it: 201 the first time, 200 after.

use crate::accounts::{self, Wish};
use crate::domain::User;
use crate::http::ApiRequest;
use crate::social::Provider;
use crate::store::Claim;
use crate::validate::{self, Fields, ProfileInput};
use crate::{ApiError, ApiResult, Context};

/// Longer than any nonce an app generates (Apple's samples use 32 characters).
const NONCE_MAX: usize = 256;
/// Apple's authorization codes are about 70 characters.
const CODE_MAX: usize = 512;

struct SnsInput {
    provider: Provider,
    snsid: validate::Snsid,
    access_token: String,
    /// Sign in with Apple: the raw nonce the app hashed into its request.
    nonce: Option<String>,
    /// Sign in with Apple: exchanged for Apple's refresh token (kept for revocation only).
    authorization_code: Option<String>,
    /// A wish: the account gets a variant when someone else holds it.
    username: validate::Username,
    profile: ProfileInput,
    icon: String,
}

impl SnsInput {
    fn parse(fields: &Fields) -> Result<Self, ApiError> {
        let login_type = fields.required_text("login_type", 8)?;
        let provider = Provider::from_login_type(&login_type)
            .ok_or_else(|| ApiError::invalid("login_type", "必须是 1（微信）、2（QQ）、3（微博）或 4（Apple）"))?;
        Ok(SnsInput {
            provider,
            snsid: validate::snsid(fields, "snsid")?,
            access_token: validate::access_token(fields, "access_token")?,
            nonce: match fields.optional_text("nonce", NONCE_MAX)? {
                Some(n) if n.trim().is_empty() => return Err(ApiError::invalid("nonce", "不能为空")),
                nonce => nonce,
            },
            authorization_code: match fields.optional_text("authorization_code", CODE_MAX)? {
                Some(c) if c.is_empty() || !c.bytes().all(|b| b.is_ascii_graphic()) => {
                    return Err(ApiError::invalid("authorization_code", "只能包含可见 ASCII 字符"))
                }
                code => code,
            },
            username: validate::username(fields, "username")?,
            profile: ProfileInput::parse(fields, true)?,
            icon: validate::http_url(fields, "icon")?,
        })
    }
}

pub async fn handle(ctx: &Context, req: ApiRequest) -> ApiResult {
    let input = SnsInput::parse(&req.fields()?)?;
    let mut apple = None;
    if ctx.config.sns.verify {
        match input.provider {
            Provider::Apple => {
                apple = Some(
                    ctx.providers
                        .verify_apple(&input.access_token, input.snsid.as_str(), input.nonce.as_deref())
                        .await?,
                );
            }
            provider => ctx.providers.verify(provider, &input.access_token, input.snsid.as_str()).await?,
        }
    } else {
        tracing::warn!(provider = input.provider.name(), "SNS_VERIFY=off: snsid trusted without asking the provider");
    }

    let claim = Claim::sns(input.provider.login_type(), &input.snsid);
    let mut draft = User::new(0, String::new(), input.provider.login_type(), 0, String::new());
    input.profile.apply_to(&mut draft);
    draft.img.clone_from(&input.icon);
    // Apple's email (perhaps a private relay) is the one Apple vouches for: it wins over a typed one.
    if let Some(email) = apple.as_ref().and_then(|a| a.email.clone()) {
        draft.email = email;
    }
    let login = accounts::login_with_claim(ctx, &claim, Wish::Name(input.username.into_string()), draft, None).await?;
    if let (Some(identity), Some(code)) = (&apple, &input.authorization_code) {
        // Only revocation at deletion needs Apple's refresh token: a failed exchange is logged and
        // the sign-in, already verified and written, stands.
        let kept = ctx.providers.apple_keep_for_revocation(&ctx.store, login.user.pk, &identity.client_id, code).await;
        if let Err(err) = kept {
            tracing::warn!(error = %err, user_pk = login.user.pk, "Apple authorization code not exchanged");
        }
    }
    let status = if login.created { 201 } else { 200 };
    Ok(login.issued.response("登录成功", &login.user).with_status(status))
}
