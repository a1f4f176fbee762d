//! Runtime settings, read once per cold start from the environment the template sets.

use std::env;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Tables {
    pub users: String,
    pub tokens: String,
    pub rooms: String,
}

impl Tables {
    /// The names the local stack uses: the template's logical ids, behind an optional prefix so
    /// that test runs sharing one DynamoDB Local never see each other's items.
    pub fn local(prefix: &str) -> Self {
        Tables {
            users: format!("{prefix}UsersTable"),
            tokens: format!("{prefix}TokensTable"),
            rooms: format!("{prefix}RoomsTable"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct LockoutPolicy {
    /// Failures allowed before the first lockout (Cognito: 5).
    pub threshold: u32,
    /// First lockout; each further failure doubles it.
    pub base: Duration,
    /// Upper bound, so nobody can lock an account for longer than this with one failure.
    pub max: Duration,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub tables: Tables,
    pub token_ttl: Duration,
    pub lockout: LockoutPolicy,
    pub cors_allow_origin: String,
    /// Largest request body accepted; API.md fixes it at 64 KiB.
    pub max_body_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tables: Tables::local(""),
            token_ttl: Duration::from_secs(24 * 3600),
            lockout: LockoutPolicy {
                threshold: 5,
                base: Duration::from_secs(30),
                max: Duration::from_secs(15 * 60),
            },
            cors_allow_origin: "*".into(),
            max_body_bytes: 64 * 1024,
        }
    }
}

impl Config {
    /// Reads the variables `template.yaml` sets; anything unset keeps the local default.
    pub fn from_env() -> Result<Self, String> {
        let mut c = Config::default();
        if let Some(v) = var("USERS_TABLE") {
            c.tables.users = v;
        }
        if let Some(v) = var("TOKENS_TABLE") {
            c.tables.tokens = v;
        }
        if let Some(v) = var("ROOMS_TABLE") {
            c.tables.rooms = v;
        }
        if let Some(v) = seconds("TOKEN_TTL_SECONDS")? {
            c.token_ttl = v;
        }
        if let Some(v) = var("LOGIN_LOCKOUT_THRESHOLD") {
            c.lockout.threshold = v.parse().map_err(|_| "LOGIN_LOCKOUT_THRESHOLD must be a number")?;
        }
        if let Some(v) = seconds("LOGIN_LOCKOUT_BASE_SECONDS")? {
            c.lockout.base = v;
        }
        if let Some(v) = seconds("LOGIN_LOCKOUT_MAX_SECONDS")? {
            c.lockout.max = v;
        }
        if let Some(v) = var("CORS_ALLOW_ORIGIN") {
            c.cors_allow_origin = v;
        }
        Ok(c)
    }
}

fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.is_empty())
}

fn seconds(name: &str) -> Result<Option<Duration>, String> {
    var(name)
        .map(|v| v.parse::<u64>().map(Duration::from_secs).map_err(|_| format!("{name} must be whole seconds")))
        .transpose()
}
