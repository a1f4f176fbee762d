//! Wall-clock helpers. Expiry is always enforced in code against these, never left to
//! DynamoDB's TTL sweeper, which may run days late.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `2016-10-28T02:27:15.211240Z`: the seed's `date_joined` format.
pub fn now_rfc3339_micros() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
