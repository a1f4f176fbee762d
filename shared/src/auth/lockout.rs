//! Login throttling, reserved before the work it guards. Every attempt is counted, in one
//! conditional DynamoDB write, before argon2 runs; only an attempt that write let through gets
//! its password checked, so N parallel guesses get exactly what N sequential ones would.
//!
//! Counts are per (username, source IP) and per username, in a window that starts with the
//! first failure (default 24 h) and is then forgotten:
//! - one address gets `threshold` attempts, then each further attempt locks it for `base`,
//!   doubling, never longer than `max` (Cognito's published behaviour); at `ip_ceiling` it is
//!   shut until the window ends. Other addresses, the owner's among them, are not affected.
//! - the username gets `username_ceiling` attempts from all addresses together (a botnet's
//!   budget); past it no password of that name is checked until the window ends, except from
//!   a known address: one that logged into the name in the last `known_address_ttl` (30 days).
//!   The botnet does not have one; the owner usually does (docs/security.md 2).
//!
//! A success forgets the address's failures and gives its reservation back to the ceiling.
//! Unknown usernames go through the same writes and the same argon2 work as known ones.

use crate::auth::passwords;
use crate::config::LockoutPolicy;
use crate::store::lockout::{LoginAttempt, LoginFailures};
use crate::store::Credentials;
use crate::validate::Username;
use crate::{clock, ApiError, Context};

/// Compare-and-set rounds before giving up on a state that keeps changing under us (each lost
/// round means another attempt on the same address was counted, which locks it soon anyway).
const ROUNDS: usize = 8;

/// The lock a failure count earns, in seconds (0 = none).
pub fn lock_seconds(policy: &LockoutPolicy, failures: u32) -> u64 {
    if failures < policy.threshold {
        return 0;
    }
    let doublings = (failures - policy.threshold).min(32);
    let secs = policy.base.as_secs().saturating_mul(1u64 << doublings);
    secs.min(policy.max.as_secs()).max(1)
}

/// Why `seen` refuses another attempt from this address now, as the seconds to wait.
fn refusal(policy: &LockoutPolicy, seen: &LoginFailures, now: u64) -> Option<u64> {
    if !seen.exists || seen.window_end <= now {
        return None;
    }
    let until_window_end = seen.window_end - now;
    // A known address (it logged into this name recently) is not held by the name's ceiling.
    let ceiling = seen.total >= policy.username_ceiling && seen.known_until <= now;
    if ceiling || seen.ip_failures >= policy.ip_ceiling {
        return Some(until_window_end);
    }
    let lock_end = seen.ip_last.saturating_add(lock_seconds(policy, seen.ip_failures));
    (lock_end > now).then(|| (lock_end - now).min(until_window_end).max(1))
}

/// Counts one attempt, or says how long to wait. Returns the window it was counted in.
async fn reserve(ctx: &Context, attempt: &LoginAttempt<'_>) -> Result<u64, ApiError> {
    let policy = &ctx.config.lockout;
    let new_window_end = attempt.now + policy.window.as_secs();
    // Below the threshold no lock can be in force: one write, no read.
    let free = policy.threshold.min(policy.ip_ceiling);
    let mut seen = match ctx.store.count_login_attempt(attempt, new_window_end, free, policy.username_ceiling).await? {
        Ok(window_end) => return Ok(window_end),
        Err(seen) => seen,
    };
    for _ in 0..ROUNDS {
        if let Some(retry_after) = refusal(policy, &seen, attempt.now) {
            return Err(ApiError::LockedOut { retry_after });
        }
        seen = match ctx.store.count_login_attempt_over(attempt, &seen, new_window_end, policy.username_ceiling).await?
        {
            Ok(window_end) => return Ok(window_end),
            Err(now_seen) => now_seen,
        };
    }
    Err(ApiError::Contended)
}

/// Checks a password attempt for `username` from `source_ip` under the lockout. Unknown
/// usernames and wrong passwords give the same 401 after the same work.
pub async fn check_password(
    ctx: &Context,
    username: &Username,
    source_ip: &str,
    password: String,
) -> Result<Credentials, ApiError> {
    let attempt = LoginAttempt { username, source_ip, now: clock::now_unix() };
    // The credentials read does not depend on the reservation: one round trip for both.
    let (window_end, creds) = tokio::try_join!(reserve(ctx, &attempt), async {
        ctx.store.get_credentials(username).await.map_err(ApiError::from)
    })?;
    let hash = creds.as_ref().and_then(|c| c.password_hash.clone());
    // Without a hash (unknown name, or an account without a password) this still spends one
    // verification against a decoy.
    let right = passwords::verify(password, hash).await?;
    match creds {
        Some(creds) if right => {
            let known_until = attempt.now + ctx.config.lockout.known_address_ttl.as_secs();
            ctx.store.forget_login_attempt(&attempt, window_end, known_until).await?;
            Ok(creds)
        }
        _ => Err(ApiError::BadCredentials),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn policy() -> LockoutPolicy {
        LockoutPolicy { base: Duration::from_secs(30), max: Duration::from_secs(900), ..LockoutPolicy::default() }
    }

    #[test]
    fn grows_then_caps() {
        let p = policy();
        assert_eq!(lock_seconds(&p, 4), 0);
        assert_eq!(lock_seconds(&p, 5), 30);
        assert_eq!(lock_seconds(&p, 6), 60);
        assert_eq!(lock_seconds(&p, 9), 480);
        assert_eq!(lock_seconds(&p, 10), 900);
        assert_eq!(lock_seconds(&p, 1000), 900);
    }

    #[test]
    fn refusals_name_the_lock_the_ceiling_or_nothing() {
        let p = policy();
        let now = 1_000_000;
        let seen = |total, ip_failures, ip_last| LoginFailures {
            exists: true,
            window_end: now + 3600,
            total,
            ip_failures,
            ip_last,
            known_until: 0,
            known: Vec::new(),
        };
        assert_eq!(refusal(&p, &seen(4, 4, now), now), None, "below the threshold");
        assert_eq!(refusal(&p, &seen(5, 5, now - 10), now), Some(20), "locked 30 s after the 5th");
        assert_eq!(refusal(&p, &seen(5, 5, now - 30), now), None, "the lock is over");
        assert_eq!(refusal(&p, &seen(100, 0, 0), now), Some(3600), "the username's ceiling");
        assert_eq!(refusal(&p, &seen(60, 50, now - 5000), now), Some(3600), "the address's ceiling");
        let known = LoginFailures { known_until: now + 1, ..seen(100, 3, now - 5000) };
        assert_eq!(refusal(&p, &known, now), None, "a known address is not held by the name's ceiling");
        let lapsed = LoginFailures { known_until: now, ..seen(100, 3, now - 5000) };
        assert_eq!(refusal(&p, &lapsed, now), Some(3600), "a known address that lapsed is");
        let known_locked = LoginFailures { known_until: now + 1, ..seen(100, 50, now - 5000) };
        assert_eq!(refusal(&p, &known_locked, now), Some(3600), "its own ceiling still holds");
        let ended = LoginFailures { window_end: now, ..seen(100, 50, now) };
        assert_eq!(refusal(&p, &ended, now), None, "a window that ended is forgotten");
    }
}
