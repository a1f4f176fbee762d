//! Refresh-token rotation (POST /token/refresh/). A refresh token works once: its rotation
//! hands out a new 24 h token and a new refresh token in the same session and marks it used.
//! Presented again:
//! - within the grace (default 10 s) after its rotation, it gets the very pair its rotation
//!   handed out, so a request retried on a flaky network, or several parallel refreshes of one
//!   token, end with one pair and the user still signed in;
//! - later, it is treated as stolen (one of two parties holding it is not the app): the whole
//!   session is ended, its refresh token and every 24 h token it issued, and the answer is 401.
//!   Other sessions of the user are untouched.
//!
//! The successor pair is kept for the grace without storing it readable: it is sealed under a
//! key derived from the used refresh token, which the store holds only hashed. A table dump
//! gives no usable token; only a client presenting the used token can open it.

use sha2::{Digest, Sha256};

use crate::auth::session::{self, Credential, Issued};
use crate::auth::tokens::{self, NewToken};
use crate::domain::User;
use crate::store::{Grant, RefreshRecord, Rotated, Rotation, SessionRecord};
use crate::{clock, ApiError, Context};

/// 24 h tokens a session may have alive at once. An app refreshes about once a day; a client
/// rotating in a loop would otherwise grow the session record without bound. Past this, each
/// rotation revokes the session's oldest live token.
pub const SESSION_LIVE_TOKENS_MAX: usize = 20;

/// Rotates refresh token `presented` (see the module doc). Every refusal is 401: unknown,
/// expired, of an ended session, of a user whose tokens were revoked, or reused too late.
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
    if record.used_at.is_some() {
        return replay(ctx, presented, &record, &session, user, now).await;
    }

    let next = session::issue(ctx, session.id.clone(), user.pk, session.epoch)?;
    let sealed = seal(presented, &next.token.plain, &next.refresh.plain)?;
    let (dropped, evicted) = prune(&session.tokens, now);
    let rotation = Rotation {
        old_hash: &hash,
        session: &session,
        next: &next.grant,
        sealed: &sealed,
        now,
        dropped: &dropped,
        evicted: &evicted,
    };
    match ctx.store.rotate(&rotation).await? {
        Rotated::Won => Ok((user, next)),
        Rotated::Refused => Err(ApiError::Unauthorized),
        // A parallel refresh of the same token won: answer what it answered.
        Rotated::Lost => {
            let record = ctx.store.get_refresh(&hash).await?.ok_or(ApiError::Unauthorized)?;
            replay(ctx, presented, &record, &session, user, now).await
        }
    }
}

/// A used refresh token presented again: the successor inside the grace, theft after it.
async fn replay(
    ctx: &Context,
    presented: &str,
    record: &RefreshRecord,
    session: &SessionRecord,
    user: User,
    now: u64,
) -> Result<(User, Issued), ApiError> {
    let used_at = record.used_at.ok_or(ApiError::Contended)?;
    if now > used_at + ctx.config.refresh_reuse_grace.as_secs() {
        // The session id is not a credential, but the logs get only its first characters: enough to
        // follow one session, never a whole 128-bit value a log scan could mistake for a token.
        let session_prefix = session.id.get(..8).unwrap_or_default();
        tracing::warn!(user_pk = user.pk, session_prefix, "refresh token reused after its rotation: session revoked");
        ctx.store.end_session(session, now).await?;
        return Err(ApiError::Unauthorized);
    }
    let sealed = record.next.as_deref().ok_or(ApiError::Contended)?;
    let (token, refresh) = unseal(presented, sealed)?;
    let grant = Grant {
        session: session.id.clone(),
        user_pk: user.pk,
        epoch: session.epoch,
        token_hash: token.hash.clone(),
        token_expires_at: 0,
        issued_at: 0,
        refresh_hash: refresh.hash.clone(),
        refresh_expires_at: record.next_expires_at,
    };
    Ok((user, Issued { token, refresh, grant }))
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
