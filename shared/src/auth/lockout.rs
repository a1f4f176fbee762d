//! Login throttling per username, after Cognito's published behaviour: the first `threshold`
//! failures are free, then each failure locks the name for `base`, doubling per further
//! failure, never longer than `max`. While locked, attempts are refused without checking the
//! password and without extending the lock, so an attacker can hold one account shut for at
//! most `max` per failed guess, and nobody else's account is affected.

use crate::auth::passwords;
use crate::config::LockoutPolicy;
use crate::store::Credentials;
use crate::{clock, ApiError, Context};

/// The lock a failure count earns, in seconds (0 = none).
pub fn lock_seconds(policy: &LockoutPolicy, failures: u32) -> u64 {
    if failures < policy.threshold {
        return 0;
    }
    let doublings = (failures - policy.threshold).min(32);
    let secs = policy.base.as_secs().saturating_mul(1u64 << doublings);
    secs.min(policy.max.as_secs()).max(1)
}

/// Checks a password attempt for `username` under the lockout: refused while locked, counted
/// when wrong. Unknown usernames and wrong passwords give the same 401 after the same work.
pub async fn check_password(ctx: &Context, username: &str, password: String) -> Result<Credentials, ApiError> {
    let creds = ctx.store.get_credentials(username).await?;
    let now = clock::now_unix();
    if let Some(c) = &creds {
        if c.locked_until > now {
            return Err(ApiError::LockedOut { retry_after: c.locked_until - now });
        }
    }
    let hash = creds.as_ref().and_then(|c| c.password_hash.clone());
    if passwords::verify(password, hash).await? {
        if let Some(c) = creds {
            return Ok(c);
        }
    }
    if creds.is_some() {
        let failures = ctx.store.record_login_failure(username).await?;
        let lock = lock_seconds(&ctx.config.lockout, failures);
        if lock > 0 {
            ctx.store.lock_username(username, clock::now_unix() + lock).await?;
        }
    }
    Err(ApiError::BadCredentials)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn grows_then_caps() {
        let p = LockoutPolicy { threshold: 5, base: Duration::from_secs(30), max: Duration::from_secs(900) };
        assert_eq!(lock_seconds(&p, 4), 0);
        assert_eq!(lock_seconds(&p, 5), 30);
        assert_eq!(lock_seconds(&p, 6), 60);
        assert_eq!(lock_seconds(&p, 9), 480);
        assert_eq!(lock_seconds(&p, 10), 900);
        assert_eq!(lock_seconds(&p, 1000), 900);
    }
}
