//! Accounts reached through an identity other than a password (a verified phone, later a
//! third-party id): found by the identity's claim item, or created with it in one transaction.

use crate::auth::{session, tokens::NewToken};
use crate::domain::User;
use crate::validate::USERNAME_MAX;
use crate::{clock, ApiError, Context};

pub struct IdentityLogin {
    pub user: User,
    pub token: NewToken,
    pub created: bool,
}

/// Logs into the account that owns `identity` (e.g. `phone#+8613800138000`), creating it from
/// `draft` (pk, room number and join date filled in here) when there is none. `username_wish`
/// is only a wish: a taken name gets a unique variant, never someone else's account. Two
/// concurrent first logins create one account: the loser of the identity claim logs into the
/// winner's.
pub async fn login_with_identity(ctx: &Context, identity: &str, username_wish: &str, draft: User) -> Result<IdentityLogin, ApiError> {
    if let Some(login) = login_existing(ctx, identity).await? {
        return Ok(login);
    }
    let (pk, roomid) = tokio::try_join!(ctx.store.next_user_pk(), ctx.store.next_room_number())?;
    let mut user = User { pk, roomid, date_joined: clock::now_rfc3339_micros(), ..draft };
    let wish: String = username_wish.chars().take(USERNAME_MAX - 24).collect();
    for attempt in 0..4 {
        user.username = match attempt {
            0 => wish.clone(),
            1 => format!("{wish}_{pk}"),
            _ => format!("{wish}_{pk}_{}", &crate::auth::tokens::generate()?.plain[..8]),
        };
        let (token, record) = session::new_token(ctx, pk, user.token_epoch)?;
        match ctx.store.create_user(&user, None, Some(identity), &token.hash, &record).await {
            Ok(()) => return Ok(IdentityLogin { user, token, created: true }),
            Err(ApiError::Taken { field: "username" }) => continue,
            Err(ApiError::Taken { field: "identity" }) => {
                return login_existing(ctx, identity).await?.ok_or(ApiError::Contended);
            }
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::Contended)
}

async fn login_existing(ctx: &Context, identity: &str) -> Result<Option<IdentityLogin>, ApiError> {
    let Some(pk) = ctx.store.get_identity(identity).await? else { return Ok(None) };
    let user = ctx.store.get_user(pk).await?.ok_or(ApiError::Contended)?;
    let (token, record) = session::new_token(ctx, pk, user.token_epoch)?;
    ctx.store.put_token(&token.hash, &record).await?;
    Ok(Some(IdentityLogin { user, token, created: false }))
}
