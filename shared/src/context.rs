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
        let sdk = crate::tls::sdk_loader().load().await;
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

/// JSON logs to stdout (CloudWatch), no ANSI colours, no timestamps (CloudWatch adds its own).
/// `RUST_LOG` is a plain level (`error` ... `trace`, default `info`): a full env-filter would
/// link a regex engine into every function for a feature nobody uses here.
pub fn init_tracing() {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing_subscriber::filter::LevelFilter>().ok())
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    let _ = tracing_subscriber::fmt()
        .json()
        .with_max_level(level)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .try_init();
}
