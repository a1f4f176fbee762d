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

/// Third-party login: where and how SnsLogin checks a provider's access token.
#[derive(Clone, Debug)]
pub struct SnsConfig {
    /// Ask the provider before trusting `snsid`. Off only for local development
    /// (`SNS_VERIFY=off`), which a Lambda refuses to start with.
    pub verify: bool,
    /// For the whole provider call, connect to last byte.
    pub timeout: Duration,
    pub wechat_base: String,
    pub qq_base: String,
    pub weibo_base: String,
    /// QQ Connect app id: `oauth2.0/me` must name it as `client_id`, or the token was issued
    /// to some other app.
    pub qq_app_id: String,
    /// Weibo app key: `oauth2/get_token_info` must name it as `appkey`.
    pub weibo_app_key: String,
}

impl Default for SnsConfig {
    fn default() -> Self {
        SnsConfig {
            verify: true,
            timeout: Duration::from_secs(2),
            wechat_base: "https://api.weixin.qq.com".into(),
            qq_base: "https://graph.qq.com".into(),
            weibo_base: "https://api.weibo.com".into(),
            qq_app_id: String::new(),
            weibo_app_key: String::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub tables: Tables,
    pub token_ttl: Duration,
    pub lockout: LockoutPolicy,
    pub cors_allow_origin: String,
    /// Largest request body accepted; API.md fixes it at 64 KiB.
    pub max_body_bytes: usize,
    pub sns: SnsConfig,
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
            sns: SnsConfig::default(),
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
        if let Some(v) = var("SNS_VERIFY") {
            c.sns.verify = sns_verify(&v, env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some())?;
        }
        if let Some(v) = var("SNS_PROVIDER_TIMEOUT_MS") {
            let ms: u64 = v.parse().map_err(|_| "SNS_PROVIDER_TIMEOUT_MS must be whole milliseconds")?;
            c.sns.timeout = Duration::from_millis(ms);
        }
        for (name, slot) in [
            ("WECHAT_API_BASE", &mut c.sns.wechat_base),
            ("QQ_API_BASE", &mut c.sns.qq_base),
            ("WEIBO_API_BASE", &mut c.sns.weibo_base),
        ] {
            if let Some(v) = var(name) {
                if !(v.starts_with("https://") || v.starts_with("http://")) {
                    return Err(format!("{name} must be an http(s) URL"));
                }
                *slot = v.trim_end_matches('/').to_owned();
            }
        }
        if let Some(v) = var("QQ_APP_ID") {
            c.sns.qq_app_id = v;
        }
        if let Some(v) = var("WEIBO_APP_KEY") {
            c.sns.weibo_app_key = v;
        }
        Ok(c)
    }
}

/// `SNS_VERIFY`: `on` or `off`. Off lets anyone log in as any snsid, so it is refused inside a
/// Lambda runtime (deployed, or `sam local`): a mistaken environment variable must not open
/// every third-party account.
fn sns_verify(value: &str, in_lambda: bool) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" => Ok(true),
        "off" | "false" | "0" if in_lambda => {
            Err("SNS_VERIFY=off is for local development only and refused inside Lambda".into())
        }
        "off" | "false" | "0" => Ok(false),
        _ => Err("SNS_VERIFY must be on or off".into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sns_verification_can_be_turned_off_only_outside_lambda() {
        assert_eq!(sns_verify("on", true), Ok(true));
        assert_eq!(sns_verify("ON", false), Ok(true));
        assert_eq!(sns_verify("off", false), Ok(false));
        assert!(sns_verify("off", true).is_err());
        assert!(sns_verify("false", true).is_err());
        assert!(sns_verify("maybe", false).is_err());
        assert!(Config::default().sns.verify, "on unless switched off");
    }
}
