//! How long any outbound call may take. A stalled dependency must end as a 503 FAIL envelope
//! with `Retry-After` within API.md's 5 s, never as a hung request, and never as API Gateway's
//! bare 502 after the function's 10 s timeout (template.yaml `Timeout: 10`).
//!
//! The budget, innermost first:
//!
//! DynamoDB, per operation (GetItem, UpdateItem, TransactWriteItems ... one SDK call):
//!   attempt    <= 1.0 s  (connect 0.5 s included; single-item p99 is a few ms, a transaction tens)
//!   attempts   =  2      (one retry of a throttle, a 5xx or a timed-out attempt; all our writes
//!                         are conditional or idempotent ADDs of a reservation, see README)
//!   backoff    <= 0.2 s  (standard retry: random up to min(50 ms * 2^n, 200 ms))
//!   operation  <= 2.0 s  (cap on the above: 1.0 + 0.2 + the second attempt's first 0.8 s)
//!   => a fully stalled DynamoDB answers every endpoint's first call with 503 after 2.0 s.
//!
//! Transaction conflicts (the app's own retries in `Store::transact`): no new attempt starts
//! after TRANSACT_CONFLICT_BUDGET (1.5 s) or CONFLICT_ATTEMPTS (12) attempts; a conflict is
//! DynamoDB's immediate answer, so the loop is <= 1.5 s + one last operation (2.0 s) = 3.5 s.
//!
//! SNS Publish: attempt <= 2.0 s (connect 0.5 s), ONE attempt: a timed-out Publish may have
//! sent the SMS, and a retry would send (and bill) a second one. operation <= 2.0 s.
//! PhoneCaptcha = reserve (DynamoDB) + Publish + release on failure: with SNS stalled,
//! 2.0 s + two DynamoDB round trips of milliseconds.
//!
//! S3 (avatar objects, docs/avatars.md), per PutObject / DeleteObject of a few hundred KB at most:
//!   attempt    <= 1.5 s  (connect 0.5 s included), 2 attempts (a PutObject of a content-derived,
//!                        never-reused key and a DeleteObject are both safe to repeat)
//!   operation  <= 2.0 s
//! An upload is auth (2 reads) + decode (CPU, < 1 s for the largest accepted image at the
//! template's memory) + reserve + two PutObjects in parallel + save + clean-up: with S3 stalled it
//! answers 503 after the PutObjects' 2.0 s, `img` unchanged.
//!
//! Whole request: REQUEST_DEADLINE (default 4 s, `REQUEST_DEADLINE_MS`) cuts any handler still
//! running, whatever chain of sequential calls it was in (login: 3 sequential round trips,
//! password change: 5, each alone allowed 2.0 s), with a 503. 4 s < API.md's 5 s, and 6 s of
//! the 10 s function timeout are left for the runtime and a cold start. Cutting a handler
//! never leaves half-written state: every multi-item write is one TransactWriteItems, and the
//! steps between them are safe to repeat (README "Deadlines").

use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;

pub const DYNAMODB_CONNECT: Duration = Duration::from_millis(500);
pub const DYNAMODB_ATTEMPT: Duration = Duration::from_millis(1000);
pub const DYNAMODB_ATTEMPTS: u32 = 2;
pub const DYNAMODB_BACKOFF_INITIAL: Duration = Duration::from_millis(50);
pub const DYNAMODB_BACKOFF_MAX: Duration = Duration::from_millis(200);
pub const DYNAMODB_OPERATION: Duration = Duration::from_millis(2000);

/// No transaction-conflict retry starts after this much time in `Store::transact`.
pub const TRANSACT_CONFLICT_BUDGET: Duration = Duration::from_millis(1500);
/// ... nor after this many attempts.
pub const CONFLICT_ATTEMPTS: u32 = 12;

pub const S3_CONNECT: Duration = Duration::from_millis(500);
pub const S3_ATTEMPT: Duration = Duration::from_millis(1500);
pub const S3_ATTEMPTS: u32 = 2;
pub const S3_OPERATION: Duration = Duration::from_millis(2000);

pub const SNS_CONNECT: Duration = Duration::from_millis(500);
pub const SNS_OPERATION: Duration = Duration::from_millis(2000);

/// The DynamoDB client of the store: `sdk` (region, credentials, endpoint) with the deadlines
/// above.
pub fn dynamodb(sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Config {
    aws_sdk_dynamodb::config::Builder::from(sdk).timeout_config(store_timeouts()).retry_config(store_retries()).build()
}

/// DynamoDB's deadlines (also Secrets Manager's): the numbers above.
pub(crate) fn store_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(DYNAMODB_CONNECT)
        .operation_attempt_timeout(DYNAMODB_ATTEMPT)
        .operation_timeout(DYNAMODB_OPERATION)
        .build()
}

pub(crate) fn store_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(DYNAMODB_ATTEMPTS)
        .with_initial_backoff(DYNAMODB_BACKOFF_INITIAL)
        .with_max_backoff(DYNAMODB_BACKOFF_MAX)
}

/// The SNS client that sends SMS: one attempt, 2 s.
#[cfg(feature = "sms")]
pub fn sns(sdk: &aws_config::SdkConfig) -> aws_sdk_sns::Config {
    use aws_sdk_sns::config::retry::RetryConfig;
    use aws_sdk_sns::config::timeout::TimeoutConfig;
    aws_sdk_sns::config::Builder::from(sdk)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(SNS_CONNECT)
                .operation_attempt_timeout(SNS_OPERATION)
                .operation_timeout(SNS_OPERATION)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .build()
}

/// Secrets Manager, once per cold start (the captcha key): the DynamoDB numbers. Init has its
/// own 10 s budget; a stalled Secrets Manager fails the cold start after 2 s, and Lambda retries it.
#[cfg(feature = "captcha-secret")]
pub fn secrets_manager(sdk: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Config {
    aws_sdk_secretsmanager::config::Builder::from(sdk)
        .timeout_config(store_timeouts())
        .retry_config(store_retries())
        .build()
}

/// The S3 client of the avatar objects: the numbers above; path-style addresses for an emulator.
#[cfg(feature = "avatar-objects")]
pub fn s3(sdk: &aws_config::SdkConfig, path_style: bool) -> aws_sdk_s3::Config {
    use aws_sdk_s3::config::retry::RetryConfig;
    use aws_sdk_s3::config::timeout::TimeoutConfig;
    aws_sdk_s3::config::Builder::from(sdk)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(S3_CONNECT)
                .operation_attempt_timeout(S3_ATTEMPT)
                .operation_timeout(S3_OPERATION)
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(S3_ATTEMPTS)
                .with_initial_backoff(DYNAMODB_BACKOFF_INITIAL)
                .with_max_backoff(DYNAMODB_BACKOFF_MAX),
        )
        .force_path_style(path_style)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_cases_fit_the_contract() {
        let first_attempts = DYNAMODB_ATTEMPT * (DYNAMODB_ATTEMPTS - 1) + DYNAMODB_BACKOFF_MAX;
        assert!(first_attempts < DYNAMODB_OPERATION, "the operation cap leaves the last attempt some time");
        assert!(TRANSACT_CONFLICT_BUDGET + DYNAMODB_OPERATION < crate::config::Config::default().request_deadline);
        assert!(SNS_OPERATION + 2 * DYNAMODB_ATTEMPT <= crate::config::Config::default().request_deadline);
        assert!(S3_ATTEMPT + DYNAMODB_BACKOFF_MAX < S3_OPERATION, "a second S3 attempt can start");
        assert!(S3_OPERATION + 2 * DYNAMODB_ATTEMPT <= crate::config::Config::default().request_deadline);
        assert!(crate::config::Config::default().request_deadline < Duration::from_secs(5), "API.md: 503 within 5 s");
    }
}
