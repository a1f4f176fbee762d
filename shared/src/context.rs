//! Everything a handler needs, built once per cold start and shared by every request.

use crate::{store::Store, Config};

pub struct Context {
    pub config: Config,
    pub store: Store,
    #[cfg(feature = "sms")]
    pub sms: crate::sms::SmsSender,
    /// The one outbound HTTPS client of third-party login, built here once per cold start.
    /// Only crates that serve /snslogin/ enable the feature: the other functions neither
    /// build nor link it.
    #[cfg(feature = "sns-providers")]
    pub providers: crate::social::Providers,
}

impl Context {
    /// Cold-start setup for a Lambda: logging, config from the environment, SDK clients.
    pub async fn from_env() -> Result<Self, lambda_http::Error> {
        init_tracing();
        let config = Config::from_env()?;
        let sdk = aws_config::load_from_env().await;
        Ok(Self::new(config, &sdk))
    }

    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Self {
        let store = Store::new(aws_sdk_dynamodb::Client::new(sdk), config.tables.clone());
        Context {
            #[cfg(feature = "sms")]
            sms: crate::sms::SmsSender::new(sdk, &config.sms),
            #[cfg(feature = "sns-providers")]
            providers: crate::social::Providers::new(config.sns.clone()),
            config,
            store,
        }
    }
}

/// JSON logs to stdout (CloudWatch), level from `RUST_LOG`, no ANSI colours, no timestamps
/// (CloudWatch adds its own).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .try_init();
}
