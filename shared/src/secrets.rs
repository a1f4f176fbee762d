//! The captcha HMAC key. Deployed, it lives in Secrets Manager (template.yaml `CaptchaSecret`,
//! generated at deploy time) and the two SMS functions read it once per cold start by its ARN
//! (`CAPTCHA_SECRET_ARN`): never in a template parameter or an environment variable, which
//! anyone with `cloudformation:DescribeStacks` or `lambda:GetFunctionConfiguration` can read.
//! (CloudFormation's `{{resolve:ssm-secure:...}}` is not allowed in Lambda environment
//! variables, and `{{resolve:secretsmanager:...}}` would put the value in one: README
//! "Secrets" has the measurements behind the choice.)
//!
//! Inside Lambda a function that needs the key refuses to start without a real one
//! ([`require_captcha_secret`]); the built-in development key works only outside Lambda.

use crate::config::{Config, SmsSenderKind, DEVELOPMENT_APPLE_SEAL_KEY, DEVELOPMENT_CAPTCHA_SECRET};

/// A secret value. Its `Debug` (and so a derived `Debug` of any config holding it) prints no
/// part of it; the value is reached only by [`Secret::expose`], at the one place that uses it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Shortest key accepted, from any source.
pub const MIN_LEN: usize = 32;

/// Fills in the captcha key from Secrets Manager when `CAPTCHA_SECRET_ARN` names one, the Sign
/// in with Apple private key (.p8 PEM) when `APPLE_PRIVATE_KEY_ARN` does, and the key sealing
/// Apple's refresh tokens when `APPLE_TOKEN_SEAL_KEY_ARN` does: fetched in parallel, so a
/// function that needs several waits for one round trip at its cold start.
pub async fn resolve(config: &mut Config, sdk: &aws_config::SdkConfig) -> Result<(), String> {
    let named = |var: &'static str| async move {
        match std::env::var(var).ok().filter(|v| !v.is_empty()) {
            Some(arn) => fetch(sdk, &arn).await.map(Some).map_err(|e| format!("{var}: {e}")),
            None => Ok(None),
        }
    };
    let (captcha, apple, seal, aliyun) = tokio::try_join!(
        named("CAPTCHA_SECRET_ARN"),
        named("APPLE_PRIVATE_KEY_ARN"),
        named("APPLE_TOKEN_SEAL_KEY_ARN"),
        named("ALIYUN_SMS_SECRET_ARN")
    )?;
    if let Some(value) = captcha {
        config.sms.code_secret = Secret::new(captcha_key(value)?);
    }
    if let Some(value) = apple {
        config.sns.apple.private_key = Some(apple_key(value)?);
    }
    if let Some(value) = seal {
        config.sns.apple.seal_key = Secret::new(seal_key(value)?);
    }
    if let Some(value) = aliyun {
        let (id, secret) = aliyun_key(&value)?;
        config.sms.aliyun.access_key_id = id;
        config.sms.aliyun.access_key_secret = Secret::new(secret);
    }
    check_aliyun_key(config)?;
    check_seal_key(config, std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some())
}

/// Aliyun sends only with its AccessKey: without one every send would be a 503.
fn check_aliyun_key(config: &Config) -> Result<(), String> {
    let aliyun = &config.sms.aliyun;
    if config.sms.sender == SmsSenderKind::Aliyun
        && (aliyun.access_key_id.is_empty() || aliyun.access_key_secret.expose().is_empty())
    {
        return Err("SMS_SENDER=aliyun needs its AccessKey: ALIYUN_SMS_SECRET_ARN (or, outside Lambda, \
                    ALIYUN_ACCESS_KEY_ID and ALIYUN_ACCESS_KEY_SECRET)"
            .into());
    }
    Ok(())
}

/// Apple's refresh tokens are stored only with Apple credentials configured; then, inside
/// Lambda, they must not be sealed with the public development key.
fn check_seal_key(config: &Config, in_lambda: bool) -> Result<(), String> {
    let apple = &config.sns.apple;
    if in_lambda && apple.private_key.is_some() && apple.seal_key.expose() == DEVELOPMENT_APPLE_SEAL_KEY {
        return Err("the built-in development Apple token seal key is refused inside Lambda: set \
                    APPLE_TOKEN_SEAL_KEY_ARN (template.yaml does when AppleKeySecretArn is set)"
            .into());
    }
    Ok(())
}

/// An Aliyun AccessKey pair, stored as `{"access_key_id": "...", "access_key_secret": "..."}`.
/// Errors never quote the value.
pub fn aliyun_key(value: &str) -> Result<(String, String), String> {
    let parsed: serde_json::Value = serde_json::from_str(value)
        .map_err(|_| "ALIYUN_SMS_SECRET_ARN: the secret is not JSON {access_key_id, access_key_secret}".to_owned())?;
    match (parsed["access_key_id"].as_str(), parsed["access_key_secret"].as_str()) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Ok((id.to_owned(), secret.to_owned())),
        _ => Err("ALIYUN_SMS_SECRET_ARN: the secret needs access_key_id and access_key_secret".into()),
    }
}

/// The Apple token seal key, at least as long as a captcha key. Errors never quote the value.
pub fn seal_key(value: String) -> Result<String, String> {
    if value.len() < MIN_LEN {
        return Err(format!("APPLE_TOKEN_SEAL_KEY_ARN: the secret must be at least {MIN_LEN} characters"));
    }
    Ok(value)
}

/// A captcha key, checked like `CAPTCHA_SECRET`. Errors never quote the value.
pub fn captcha_key(value: String) -> Result<String, String> {
    if value.len() < MIN_LEN {
        return Err(format!("CAPTCHA_SECRET_ARN: the secret must be at least {MIN_LEN} characters"));
    }
    Ok(value)
}

/// Sign in with Apple's .p8 key: PEM text. Errors never quote the value.
pub fn apple_key(value: String) -> Result<String, String> {
    if !(value.contains("-----BEGIN PRIVATE KEY-----") && value.contains("-----END PRIVATE KEY-----")) {
        return Err("APPLE_PRIVATE_KEY_ARN: the secret is not a PEM private key (.p8)".into());
    }
    Ok(value)
}

#[cfg(feature = "captcha-secret")]
async fn fetch(sdk: &aws_config::SdkConfig, arn: &str) -> Result<String, String> {
    let client = aws_sdk_secretsmanager::Client::from_conf(crate::deadlines::secrets_manager(sdk));
    fetch_with(&client, arn).await
}

#[cfg(not(feature = "captcha-secret"))]
async fn fetch(_sdk: &aws_config::SdkConfig, _arn: &str) -> Result<String, String> {
    Err("set, but this function was built without the captcha-secret feature (the Secrets Manager client)".into())
}

/// The secret's string value. Errors name the failure, never the value.
#[cfg(feature = "captcha-secret")]
pub async fn fetch_with(client: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<String, String> {
    let out = client.get_secret_value().secret_id(arn).send().await.map_err(|e| {
        let code = aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(&e).unwrap_or("no error code").to_owned();
        format!("GetSecretValue failed ({code}: {e})")
    })?;
    Ok(out.secret_string().ok_or("the secret has no string value")?.to_owned())
}

/// Cold-start check of the functions that hash captcha codes (phone_captcha, phone_login):
/// inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set) the public development key is refused, as
/// `SNS_VERIFY=off` is: anyone could compute every stored code's HMAC with it.
pub fn require_captcha_secret(config: &Config) -> Result<(), String> {
    check(config.sms.code_secret.expose(), std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some())
}

fn check(secret: &str, in_lambda: bool) -> Result<(), String> {
    if in_lambda && secret == DEVELOPMENT_CAPTCHA_SECRET {
        return Err("the built-in development captcha secret is refused inside Lambda: set CAPTCHA_SECRET_ARN \
                    (template.yaml does)"
            .into());
    }
    if secret.len() < MIN_LEN {
        return Err(format!("the captcha secret must be at least {MIN_LEN} characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_s_debug_never_prints_the_captcha_key() {
        let mut config = Config::default();
        config.sms.code_secret = Secret::new("s3cr3t-".repeat(8));
        let printed = format!("{config:?} {:#?}", config.sms);
        assert!(printed.contains("Secret(..)"), "{printed}");
        assert!(!printed.contains("s3cr3t"), "{printed}");
        assert!(!format!("{:?}", Config::default()).contains(DEVELOPMENT_CAPTCHA_SECRET));
    }

    #[test]
    fn the_development_seal_key_only_outside_lambda_or_without_apple_credentials() {
        let mut config = Config::default();
        assert!(check_seal_key(&config, true).is_ok(), "no Apple credentials: nothing is sealed");
        config.sns.apple.private_key = Some("pem".into());
        assert!(check_seal_key(&config, false).is_ok());
        assert!(check_seal_key(&config, true).unwrap_err().contains("APPLE_TOKEN_SEAL_KEY_ARN"));
        config.sns.apple.seal_key = Secret::new("k".repeat(64));
        assert!(check_seal_key(&config, true).is_ok());
    }

    #[test]
    fn the_development_secret_only_outside_lambda() {
        assert!(check(DEVELOPMENT_CAPTCHA_SECRET, false).is_ok());
        let refused = check(DEVELOPMENT_CAPTCHA_SECRET, true).unwrap_err();
        assert!(refused.contains("refused inside Lambda"), "{refused}");
        assert!(check(&"k".repeat(64), true).is_ok());
        assert!(check("short", false).is_err());
    }
}
