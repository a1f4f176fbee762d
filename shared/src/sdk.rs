//! The [`SdkConfig`] every AWS SDK client of a process is built from.
//!
//! Inside Lambda it is built straight from the variables Lambda sets: `AWS_REGION` and the
//! execution role's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (AWS
//! Lambda Developer Guide, "Defined runtime environment variables"). The SDK's default chain
//! would find the same values, but only after probing for profile files, web identity, ECS and
//! IMDS settings: README "Size and cold start" has what that cost at every Init.
//!
//! The credentials are fixed for the process's life, which is what the default chain gives
//! inside Lambda as well (its first provider reads these variables, and nothing outside a
//! process can change its environment). Lambda hands each execution environment credentials
//! that last as long as it does and replaces environments rather than rotating their keys: a
//! role change "forces running instances of your function, which have outdated credentials,
//! to stop and be replaced" (AWS Lambda Developer Guide, "Lambda execution role").
//!
//! Outside Lambda (local server, tests, tools) the default chain stays: profiles, SSO, etc.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_async::rt::sleep::TokioSleep;
use aws_smithy_async::time::SystemTimeSource;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

/// Inside Lambda, [`from_lambda_env`]; elsewhere (or when Lambda's variables are missing) the
/// SDK's default chain. Both use [`crate::tls::aws_http_client`].
pub async fn config() -> SdkConfig {
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        if let Some(sdk) = from_lambda_env(env_var) {
            return sdk;
        }
    }
    crate::tls::sdk_loader().load().await
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The config Lambda's environment describes, read through `var`; `None` without a region or
/// keys (then the caller falls back to the default chain, which knows other sources).
pub fn from_lambda_env(var: fn(&str) -> Option<String>) -> Option<SdkConfig> {
    let get = |name: &str| var(name).filter(|v| !v.is_empty());
    let region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION"))?;
    let credentials = Credentials::new(
        get("AWS_ACCESS_KEY_ID")?,
        get("AWS_SECRET_ACCESS_KEY")?,
        get("AWS_SESSION_TOKEN"),
        None,
        "LambdaEnvironment",
    );
    let mut sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(crate::tls::aws_http_client())
        .sleep_impl(TokioSleep::new())
        .time_source(SystemTimeSource::new())
        .timeout_config(crate::deadlines::store_timeouts())
        .retry_config(crate::deadlines::store_retries())
        .service_config(EndpointUrls { var });
    if let Some(url) = get("AWS_ENDPOINT_URL") {
        sdk = sdk.endpoint_url(url);
    }
    Some(sdk.build())
}

/// Per-service settings from the environment, as the default chain reads them: only
/// `AWS_ENDPOINT_URL_<SERVICE>` (e.g. `AWS_ENDPOINT_URL_DYNAMODB`) is ever asked for by the
/// clients this project builds. The global `AWS_ENDPOINT_URL` is the config's own endpoint.
#[derive(Debug)]
struct EndpointUrls {
    var: fn(&str) -> Option<String>,
}

impl LoadServiceConfig for EndpointUrls {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        // The SDK's rule: the service id upper-cased, spaces as underscores ("Secrets Manager").
        let service = key.service_id().to_ascii_uppercase().replace(' ', "_");
        (self.var)(&format!("{}_{service}", key.env())).filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::config::ProvideCredentials;

    use super::*;

    fn lambda(name: &str) -> Option<String> {
        let value = match name {
            "AWS_REGION" => "eu-west-3",
            "AWS_ACCESS_KEY_ID" => "ASIAEXAMPLE",
            "AWS_SECRET_ACCESS_KEY" => "secret",
            "AWS_SESSION_TOKEN" => "session-token",
            "AWS_ENDPOINT_URL_DYNAMODB" => "http://127.0.0.1:1",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER" => "http://127.0.0.1:2",
            _ => return None,
        };
        Some(value.to_owned())
    }

    #[tokio::test]
    async fn lambda_s_variables_make_the_whole_config() {
        let sdk = from_lambda_env(lambda).expect("a complete Lambda environment");
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-3"));
        let creds = sdk.credentials_provider().unwrap().provide_credentials().await.unwrap();
        assert_eq!(creds.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(creds.secret_access_key(), "secret");
        assert_eq!(creds.session_token(), Some("session-token"), "without it STS keys are refused");
        assert!(sdk.http_client().is_some() && sdk.sleep_impl().is_some() && sdk.time_source().is_some());
        assert_eq!(sdk.behavior_version(), Some(BehaviorVersion::latest()));
        // Clients built from it keep the deadlines and find their own endpoint overrides.
        let ddb = crate::deadlines::dynamodb(&sdk);
        assert_eq!(ddb.timeout_config().unwrap().operation_timeout(), Some(crate::deadlines::DYNAMODB_OPERATION));
        let endpoint = |service| {
            let key = ServiceConfigKey::builder().service_id(service).env("AWS_ENDPOINT_URL");
            sdk.service_config().unwrap().load_config(key.profile("endpoint_url").build().unwrap())
        };
        assert_eq!(endpoint("DynamoDB").as_deref(), Some("http://127.0.0.1:1"));
        assert_eq!(endpoint("Secrets Manager").as_deref(), Some("http://127.0.0.1:2"));
        assert_eq!(endpoint("SNS"), None, "unset: the region's own endpoint");
        assert_eq!(sdk.endpoint_url(), None, "no global override unless AWS_ENDPOINT_URL says so");
    }

    #[test]
    fn without_region_or_keys_the_default_chain_decides() {
        fn no_keys(name: &str) -> Option<String> {
            (name != "AWS_SECRET_ACCESS_KEY").then(|| lambda(name)).flatten()
        }
        fn empty_region(name: &str) -> Option<String> {
            if name == "AWS_REGION" {
                Some(String::new())
            } else {
                lambda(name)
            }
        }
        assert!(from_lambda_env(no_keys).is_none());
        assert!(from_lambda_env(empty_region).is_none());
    }
}
