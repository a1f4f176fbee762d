//! Everything a handler needs, built once per cold start and shared by every request.

use std::time::Instant;

use tracing_subscriber::filter::{LevelFilter, Targets};

use crate::metrics::{DynamoDbMetrics, Metrics, Sink};
use crate::{store::Store, Config};

pub struct Context {
    pub config: Config,
    pub store: Store,
    /// The EMF writer: one line per request that counted something.
    pub metrics: Metrics,
    #[cfg(feature = "sms")]
    pub sms: crate::sms::SmsSender,
    /// The one outbound HTTPS client of third-party login, built here once per cold start.
    /// Only crates that serve /snslogin/ enable the feature: the other functions neither
    /// build nor link it.
    #[cfg(feature = "sns-providers")]
    pub providers: crate::social::Providers,
    /// The client of the legacy server's login (lazy migration), when `LEGACY_API_BASE` is set.
    #[cfg(feature = "legacy-login")]
    pub legacy: Option<crate::https::HttpClient>,
    /// The avatar bucket (crate::avatars): only UserIcon and AccountDelete link the S3 client.
    #[cfg(feature = "avatar-objects")]
    pub avatars: crate::avatars::Objects,
}

impl Context {
    /// Cold-start setup for a Lambda: logging, config from the environment, SDK clients.
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        let start = Instant::now();
        init_tracing();
        let mut config = Config::from_env()?;
        let sdk = crate::sdk::config().await;
        let sdk_ready = start.elapsed();
        crate::secrets::resolve(&mut config, &sdk).await?;
        let secrets_read = start.elapsed();
        let ctx = Self::new(config, &sdk);
        // Where Init goes (README "Size and cold start"), at the price of three clock reads.
        tracing::debug!(
            config_us = sdk_ready.as_micros() as u64,
            secrets_us = (secrets_read - sdk_ready).as_micros() as u64,
            clients_us = (start.elapsed() - secrets_read).as_micros() as u64,
            "cold start"
        );
        Ok(ctx)
    }

    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Self {
        // Deadlines and retries (deadlines.rs); the interceptor sees every DynamoDB attempt:
        // calls, retries and throttling answers.
        let dynamodb = crate::deadlines::dynamodb(sdk).to_builder().interceptor(DynamoDbMetrics).build();
        let store = Store::new(aws_sdk_dynamodb::Client::from_conf(dynamodb), config.tables.clone())
            .with_id_block(config.id_block);
        let sink = if config.metrics_namespace.is_empty() { Sink::Off } else { Sink::Stdout };
        Context {
            #[cfg(feature = "sms")]
            sms: crate::sms::SmsSender::new(sdk, &config.sms),
            #[cfg(feature = "sns-providers")]
            providers: crate::social::Providers::new(config.sns.clone()),
            #[cfg(feature = "legacy-login")]
            legacy: (!config.legacy_api_base.is_empty()).then(|| crate::https::HttpClient::new(config.sns.timeout)),
            #[cfg(feature = "avatar-objects")]
            avatars: crate::avatars::Objects::new(sdk, &config.avatars),
            metrics: Metrics::new(config.metrics_namespace.clone(), sink),
            config,
            store,
        }
    }
}

/// JSON logs to stdout (CloudWatch), no ANSI colours, no timestamps (CloudWatch adds its own).
/// `RUST_LOG` is a plain level (`error` ... `trace`, default `info`): a full env-filter would
/// link a regex engine into every function for a feature nobody uses here. Whatever it says,
/// the runtime's and the SDK's own crates stay at `info` or less ([`log_filter`]).
pub fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let level = std::env::var("RUST_LOG").ok().and_then(|v| v.parse::<LevelFilter>().ok()).unwrap_or(LevelFilter::INFO);
    let _ = tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .finish()
        .with(log_filter(level))
        .try_init();
}

/// Crates that log what passes through them at `debug` and `trace`: lambda_runtime the raw
/// event (passwords, tokens, captchas), the SDK and HTTP stacks whole requests and responses
/// (keys holding phone numbers, hashes). Prefixes: `aws_` is every SDK crate.
const VERBATIM_LOGGERS: &[&str] =
    &["lambda_runtime", "lambda_http", "aws_", "hyper", "h2", "rustls", "tower", "reqwest"];

/// `level` for this project's code, at most `info` for [`VERBATIM_LOGGERS`].
pub fn log_filter(level: LevelFilter) -> Targets {
    let capped = level.min(LevelFilter::INFO);
    Targets::new().with_default(level).with_targets(VERBATIM_LOGGERS.iter().map(|t| (*t, capped)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn runtime_and_sdk_never_log_below_info() {
        let filter = log_filter(LevelFilter::TRACE);
        for target in
            ["lambda_runtime::layers::api_response", "aws_smithy_runtime::client", "aws_sdk_dynamodb", "hyper"]
        {
            assert!(filter.would_enable(target, &Level::INFO), "{target}");
            assert!(!filter.would_enable(target, &Level::DEBUG), "{target}");
            assert!(!filter.would_enable(target, &Level::TRACE), "{target}");
        }
        assert!(filter.would_enable("shared::http::dispatch", &Level::TRACE));
        let quiet = log_filter(LevelFilter::WARN);
        assert!(!quiet.would_enable("aws_config", &Level::INFO), "a lower RUST_LOG lowers them too");
        assert!(!quiet.would_enable("shared", &Level::INFO));
    }
}
