//! POST /snslogin/: WeChat, QQ or Weibo login. The provider vouches for (access_token, snsid)
//! first; the account is then the one holding the `sns#<login_type>#<snsid>` claim, or a new
//! one created with it: 201 the first time, 200 after.

use crate::auth::session;
use crate::domain::User;
use crate::http::ApiRequest;
use crate::social::Provider;
use crate::store::Claim;
use crate::validate::{self, Fields, ProfileInput, USERNAME_MAX};
use crate::{clock, ApiError, ApiResult, Context};

/// The wished username, then this many variants of it, before giving up on a collision streak
/// nobody can cause by accident.
const USERNAME_VARIANTS: u32 = 5;

struct SnsInput {
    provider: Provider,
    snsid: String,
    access_token: String,
    /// A wish: the account gets a variant when someone else holds it.
    username: String,
    profile: ProfileInput,
    icon: String,
}

impl SnsInput {
    fn parse(fields: &Fields) -> Result<Self, ApiError> {
        let login_type = fields.required_text("login_type", 8)?;
        let provider = Provider::from_login_type(&login_type)
            .ok_or_else(|| ApiError::invalid("login_type", "必须是 1（微信）、2（QQ）或 3（微博）"))?;
        Ok(SnsInput {
            provider,
            snsid: validate::snsid(fields, "snsid")?,
            access_token: validate::access_token(fields, "access_token")?,
            username: validate::username(fields, "username")?,
            profile: ProfileInput::parse(fields, true)?,
            icon: validate::http_url(fields, "icon")?,
        })
    }
}

pub async fn handle(ctx: &Context, req: ApiRequest) -> ApiResult {
    let input = SnsInput::parse(&req.fields()?)?;
    if ctx.config.sns.verify {
        ctx.providers.verify(input.provider, &input.access_token, &input.snsid).await?;
    } else {
        tracing::warn!(provider = input.provider.name(), "SNS_VERIFY=off: snsid trusted without asking the provider");
    }

    let claim = Claim::sns(input.provider.login_type(), &input.snsid);
    match ctx.store.claim_owner(&claim).await? {
        Some(pk) => log_in(ctx, pk).await,
        None => create(ctx, &input, &claim).await,
    }
}

/// A new token for an existing account; its profile stays as its owner last saved it.
async fn log_in(ctx: &Context, pk: u64) -> ApiResult {
    let user = ctx.store.get_user(pk).await?.ok_or(ApiError::Contended)?;
    let (token, record) = session::new_token(ctx, pk, user.token_epoch)?;
    ctx.store.put_token(&token.hash, &record).await?;
    Ok(super::user_response("登录成功", &user, &token.plain))
}

/// The first login of this identity: an account without a password (password login is
/// refused for it), created together with the identity's claim.
async fn create(ctx: &Context, input: &SnsInput, claim: &Claim) -> ApiResult {
    let (pk, roomid) = tokio::try_join!(ctx.store.next_user_pk(), ctx.store.next_room_number())?;
    let mut user = User::new(pk, input.username.clone(), input.provider.login_type(), roomid, clock::now_rfc3339_micros());
    user.apply(&input.profile);
    user.img.clone_from(&input.icon);
    let (token, record) = session::new_token(ctx, pk, user.token_epoch)?;
    for attempt in 0..=USERNAME_VARIANTS {
        match ctx.store.create_user(&user, None, std::slice::from_ref(claim), &token.hash, &record).await {
            Ok(()) => return Ok(super::user_response("登录成功", &user, &token.plain).with_status(201)),
            Err(ApiError::Taken { field: "snsid" }) => {
                // A concurrent first login of the same identity created the account: it is
                // this login's account too.
                let owner = ctx.store.claim_owner(claim).await?.ok_or(ApiError::Contended)?;
                return log_in(ctx, owner).await;
            }
            Err(ApiError::Taken { field: "username" }) => user.username = username_variant(&input.username, pk, attempt)?,
            Err(err) => return Err(err),
        }
    }
    Err(ApiError::Contended)
}

/// `wish_<pk>` first (pks are unique, so only a deliberate squatter can hold it), then
/// `wish_<random>`; the wish is shortened so that the result stays a valid username.
fn username_variant(wish: &str, pk: u64, attempt: u32) -> Result<String, ApiError> {
    let suffix = if attempt == 0 {
        format!("_{pk}")
    } else {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).map_err(|e| ApiError::Unavailable(format!("rng: {e}")))?;
        format!("_{}", u32::from_le_bytes(bytes) % 1_000_000)
    };
    let keep = USERNAME_MAX - suffix.len();
    Ok(wish.chars().take(keep).chain(suffix.chars()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_are_valid_distinct_usernames() {
        assert_eq!(username_variant("alice", 17, 0).unwrap(), "alice_17");
        let random = username_variant("alice", 17, 1).unwrap();
        assert!(random.starts_with("alice_") && random.len() > 6, "{random}");
        let long = "长".repeat(USERNAME_MAX);
        for attempt in 0..3 {
            let v = username_variant(&long, 123_456, attempt).unwrap();
            assert!(v.chars().count() <= USERNAME_MAX, "{attempt}");
            validate::check_username("username", &v).unwrap();
        }
    }
}
