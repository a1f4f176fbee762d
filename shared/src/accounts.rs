//! Accounts reached through an identity other than a password (a phone verified by SMS, a
//! third-party id vouched for by its provider): found by the identity's claim, or created with
//! it in one transaction.

use crate::auth::session::{self, Issued};
use crate::domain::User;
use crate::store::{Claim, ClaimKind, LinkedWrite, StoreError};
use crate::validate::{Username, USERNAME_MAX};
use crate::{clock, ApiError, Context};

/// The wished username, then this many variants of it, before giving up on a collision streak
/// nobody can cause by accident.
const USERNAME_VARIANTS: u32 = 5;

pub struct IdentityLogin {
    pub user: User,
    pub issued: Issued,
    pub created: bool,
}

/// The username a new account asks for.
pub enum Wish {
    /// This name, or a variant when it is taken (SnsLogin's `username`).
    Name(String),
    /// `<prefix>_<pk>`: a name that says nothing about the identity (phone accounts, whose
    /// number must not be readable from a username, or from a 409 on it).
    Numbered(&'static str),
}

/// Logs into the account that holds `claim`, or creates it from `draft` (pk, room number, join
/// date and username are filled in here; no password). A wished name that is taken gets a
/// variant, never someone else's account. Two concurrent first logins make one account: the
/// loser of the claim logs into the winner's. An existing account's profile is left as its
/// owner last saved it. `linked` (a captcha being used up) is written in the same transaction
/// as the token, and the account when one is created: no login, no use.
pub async fn login_with_claim(
    ctx: &Context,
    claim: &Claim,
    wish: Wish,
    draft: User,
    linked: Option<&LinkedWrite>,
) -> Result<IdentityLogin, ApiError> {
    if let Some(pk) = ctx.store.claim_owner(claim).await? {
        return log_in(ctx, claim, pk, linked).await;
    }
    let (pk, roomid) = tokio::try_join!(ctx.store.next_user_pk(), ctx.store.next_room_number())?;
    let wish = match wish {
        Wish::Name(name) => name,
        Wish::Numbered(prefix) => format!("{prefix}_{pk}"),
    };
    let mut user = User { pk, roomid, date_joined: clock::now_rfc3339_micros(), username: wish.clone(), ..draft };
    let issued = session::start(ctx, pk, user.token_epoch)?;
    for attempt in 0..=USERNAME_VARIANTS {
        let claims = [claim.clone(), Claim::lookalike(&Username::of_record(&user.username))];
        match ctx.store.create_user(&user, None, &claims, &issued.grant, linked).await {
            Ok(()) => return Ok(IdentityLogin { user, issued, created: true }),
            Err(StoreError::Taken(ClaimKind::Username)) => user.username = username_variant(&wish, pk, attempt)?,
            Err(StoreError::Taken(_)) => {
                let owner = ctx.store.claim_owner(claim).await?.ok_or(ApiError::Contended)?;
                return log_in(ctx, claim, owner, linked).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(ApiError::Contended)
}

/// A new session for an existing account, written only while `claim` is still the account's:
/// had the phone moved to another account (or been released) since it was read, its holder
/// would log into an account it no longer reaches (503, and the retry reads the claim afresh).
async fn log_in(
    ctx: &Context,
    claim: &Claim,
    pk: u64,
    linked: Option<&LinkedWrite>,
) -> Result<IdentityLogin, ApiError> {
    let user = ctx.store.get_user(pk).await?.ok_or(ApiError::Contended)?;
    let issued = session::start(ctx, pk, user.token_epoch)?;
    let mut writes = vec![ctx.store.claim_held(claim, pk)?];
    writes.extend(linked.cloned());
    ctx.store.start_session(&issued.grant, &writes).await?;
    Ok(IdentityLogin { user, issued, created: false })
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
    use crate::validate;

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
