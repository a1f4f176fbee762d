//! Refresh-token rotation (POST /token/refresh/). A refresh token works once: its rotation
//! hands out a new 24 h token and a new refresh token in the same session and marks it used.
//! Presented again:
//! - within the grace (default 10 s) after its rotation, it gets the very pair its rotation
//!   handed out, so several parallel refreshes of one token, or a quick retry, end with one
//!   pair and the user still signed in;
//! - later, while that successor has never been used (it is still the session's live refresh
//!   token), the answer that carried it was lost: the token is rotated again, however late (an
//!   app offline for hours, or backing off, is not signed out), the lost successor superseded
//!   and its 24 h token revoked;
//! - later, once the successor was used, or when a superseded successor is presented: two
//!   different successors of one token are in use, so two parties hold the session. It ends
//!   whole (its refresh token and every 24 h token it issued) and the answer is 401. Other
//!   sessions of the user are untouched. docs/security.md has the trade-off.
//!
//! The successor pair is kept for the grace without storing it readable: it is sealed under a
//! key derived from the used refresh token, which the store holds only hashed. A table dump
//! gives no usable token; only a client presenting the used token can open it.

use sha2::{Digest, Sha256};

use crate::auth::session::{self, Credential, Issued};
use crate::auth::tokens::{self, NewToken};
use crate::domain::User;
use crate::store::{Expect, Grant, RefreshRecord, Rotated, Rotation, SessionRecord};
use crate::{clock, ApiError, Context};

/// 24 h tokens a session may have alive at once. An app refreshes about once a day; a client
/// rotating in a loop would otherwise grow the session record without bound. Past this, each
/// rotation revokes the session's oldest live token.
pub const SESSION_LIVE_TOKENS_MAX: usize = 20;

/// Rotates refresh token `presented` (see the module doc). Every refusal is 401: unknown,
/// expired, of an ended session, of a user whose tokens were revoked, or a theft.
pub async fn rotate(ctx: &Context, presented: &str) -> Result<(User, Issued), ApiError> {
    tokens::check_refresh_format(presented)?;
    let hash = tokens::hash(presented);
    let now = clock::now_unix();
    let record = ctx.store.get_refresh(&hash).await?.ok_or(ApiError::Unauthorized)?;
    if record.expires_at <= now {
        return Err(ApiError::Unauthorized);
    }
    let (account, login) = ctx.store.account_and_session(record.user_pk, &record.session).await?;
    let credential = Credential { user_pk: record.user_pk, session: &record.session, token: None };
    let (user, session) = session::live(&credential, account, login)?;
    let session = session.ok_or(ApiError::Unauthorized)?;
    let presented = Presented { plain: presented, hash: &hash, user, session: &session, now };
    if record.used_at.is_some() {
        return replay(ctx, &presented, &record, true).await;
    }
    if session.current != hash {
        // Unused, yet not the session's live token: its parent was rotated again after it was
        // handed out (a late retry), so whoever holds it holds a second successor. Unless a
        // parallel rotation used it between the two reads: the record says which (a rotation
        // marks it used in the transaction that moves `current` away from it).
        let record = ctx.store.get_refresh(&hash).await?.ok_or(ApiError::Unauthorized)?;
        return match record.used_at {
            Some(_) => replay(ctx, &presented, &record, false).await,
            None => theft(ctx, &presented).await,
        };
    }
    rotate_from(ctx, &presented, Expect::Unused).await
}

/// A refresh token being presented, with what it was checked against.
struct Presented<'a> {
    plain: &'a str,
    hash: &'a str,
    user: User,
    session: &'a SessionRecord,
    now: u64,
}

/// A used refresh token presented again. Inside the grace: the pair its rotation handed out
/// (parallel refreshes, a quick retry). After it: if that successor was never used (it is still
/// the session's live refresh token), the answer that carried it was lost, so the token is
/// rotated again, however late; if it was used, this is a second, different use of one
/// token's succession: theft.
async fn replay(
    ctx: &Context,
    presented: &Presented<'_>,
    record: &RefreshRecord,
    may_rotate_again: bool,
) -> Result<(User, Issued), ApiError> {
    let used_at = record.used_at.ok_or(ApiError::Contended)?;
    let sealed = record.next.as_deref().ok_or(ApiError::Contended)?;
    let (token, refresh) = unseal(presented.plain, sealed)?;
    let session = presented.session;
    if presented.now <= used_at + ctx.config.refresh_reuse_grace.as_secs() {
        let grant = Grant {
            session: session.id.clone(),
            user_pk: presented.user.pk,
            epoch: session.epoch,
            token_hash: token.hash.clone(),
            token_expires_at: 0,
            issued_at: 0,
            refresh_hash: refresh.hash.clone(),
            refresh_expires_at: record.next_expires_at,
        };
        return Ok((presented.user.clone(), Issued { token, refresh, grant }));
    }
    if may_rotate_again && session.current == refresh.hash {
        return rotate_from(ctx, presented, Expect::Again { used_at, token: &token.hash, refresh: &refresh.hash })
            .await;
    }
    theft(ctx, presented).await
}

/// Whoever presented this is not the only holder of the session: it ends, whole, and the
/// answer is 401. Other sessions of the user are untouched.
async fn theft(ctx: &Context, presented: &Presented<'_>) -> Result<(User, Issued), ApiError> {
    // The session id is not a credential, but the logs get only its first characters: enough to
    // follow one session, never a whole 128-bit value a log scan could mistake for a token.
    let session_prefix = presented.session.id.get(..8).unwrap_or_default();
    tracing::warn!(user_pk = presented.user.pk, session_prefix, "refresh token reused: session revoked");
    ctx.store.end_session(presented.session, presented.now).await?;
    Err(ApiError::Unauthorized)
}

/// A new pair from the presented token, in one transaction whose conditions make it the one
/// rotation (see `Expect`). A rotation again also evicts the lost successor's 24 h token.
async fn rotate_from(ctx: &Context, presented: &Presented<'_>, expect: Expect<'_>) -> Result<(User, Issued), ApiError> {
    let (session, now) = (presented.session, presented.now);
    let next = session::issue(ctx, session.id.clone(), presented.user.pk, session.epoch)?;
    let sealed = seal(presented.plain, &next.token.plain, &next.refresh.plain)?;
    let lost_token = match expect {
        Expect::Again { token, .. } => Some(token),
        Expect::Unused => None,
    };
    let kept: Vec<(String, u64)> =
        session.tokens.iter().filter(|(h, _)| Some(h.as_str()) != lost_token).cloned().collect();
    let (dropped, mut evicted) = prune(&kept, now);
    if let Some(lost) = lost_token.filter(|t| session.tokens.iter().any(|(h, _)| h == t)) {
        evicted.push(lost.to_owned());
    }
    let rotation = Rotation {
        old_hash: presented.hash,
        expect,
        session,
        next: &next.grant,
        sealed: &sealed,
        now,
        dropped: &dropped,
        evicted: &evicted,
    };
    match ctx.store.rotate(&rotation).await? {
        Rotated::Won => Ok((presented.user.clone(), next)),
        Rotated::Refused => Err(ApiError::Unauthorized),
        // A parallel refresh of the same token won: answer what it answered (it rotated inside
        // the grace of now, so this is no further rotation).
        Rotated::Lost => {
            let record = ctx.store.get_refresh(presented.hash).await?.ok_or(ApiError::Unauthorized)?;
            Box::pin(replay(ctx, presented, &record, false)).await
        }
    }
}

/// Splits a session's token list at a rotation: expired tokens leave the list (they are dead
/// already), and the oldest live ones are revoked when the session is at its cap.
fn prune(tokens: &[(String, u64)], now: u64) -> (Vec<String>, Vec<String>) {
    let (expired, live): (Vec<_>, Vec<_>) = tokens.iter().partition(|(_, exp)| *exp <= now);
    let over = (live.len() + 1).saturating_sub(SESSION_LIVE_TOKENS_MAX);
    (
        expired.into_iter().map(|(h, _)| h.clone()).collect(),
        live.into_iter().take(over).map(|(h, _)| h.clone()).collect(),
    )
}

/// 48 bytes of key stream from a used refresh token (256 random bits, used to seal exactly one
/// successor, so the stream is never reused). The domain label keeps it unrelated to the
/// token's stored hash.
fn keystream(presented: &str) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (i, half) in out.chunks_mut(32).enumerate() {
        let mut h = Sha256::new();
        h.update(b"refresh-grace-seal/");
        h.update([b'0' + i as u8, b'/']);
        h.update(presented.as_bytes());
        half.copy_from_slice(&h.finalize());
    }
    out
}

fn seal(presented: &str, token: &str, refresh: &str) -> Result<String, ApiError> {
    let mut plain = hex::decode(token).map_err(|_| ApiError::Contended)?;
    plain.extend(hex::decode(refresh).map_err(|_| ApiError::Contended)?);
    Ok(hex::encode(xor(&plain, &keystream(presented))))
}

fn unseal(presented: &str, sealed: &str) -> Result<(NewToken, NewToken), ApiError> {
    let bytes = hex::decode(sealed).map_err(|_| ApiError::Contended)?;
    if bytes.len() != 48 {
        return Err(ApiError::Contended);
    }
    let plain = xor(&bytes, &keystream(presented));
    let token = hex::encode(&plain[..16]);
    let refresh = hex::encode(&plain[16..]);
    Ok((
        NewToken { hash: tokens::hash(&token), plain: token },
        NewToken { hash: tokens::hash(&refresh), plain: refresh },
    ))
}

fn xor(data: &[u8], key: &[u8]) -> Vec<u8> {
    data.iter().zip(key).map(|(d, k)| d ^ k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_successor_opens_only_with_the_used_token() {
        let used = tokens::generate_refresh().unwrap().plain;
        let (t, r) = (tokens::generate().unwrap().plain, tokens::generate_refresh().unwrap().plain);
        let sealed = seal(&used, &t, &r).unwrap();
        assert!(!sealed.contains(&t) && !sealed.contains(&r));
        let (t2, r2) = unseal(&used, &sealed).unwrap();
        assert_eq!((t2.plain.as_str(), r2.plain.as_str()), (t.as_str(), r.as_str()));
        let other = tokens::generate_refresh().unwrap().plain;
        let (t3, _) = unseal(&other, &sealed).unwrap();
        assert_ne!(t3.plain, t);
    }

    #[test]
    fn prune_drops_expired_and_caps_live_tokens() {
        let now = 1_000;
        let mut list: Vec<(String, u64)> = vec![("old".into(), 999), ("gone".into(), 1_000)];
        list.extend((0..SESSION_LIVE_TOKENS_MAX as u64).map(|i| (format!("t{i}"), 2_000 + i)));
        let (dropped, evicted) = prune(&list, now);
        assert_eq!(dropped, vec!["old".to_owned(), "gone".to_owned()]);
        assert_eq!(evicted, vec!["t0".to_owned()]);
        let (dropped, evicted) = prune(&list[..3], now);
        assert_eq!((dropped.len(), evicted.len()), (2, 0));
    }
}
