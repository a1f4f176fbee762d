//! Delivering an SMS (only functions built with the `sms` feature link it): SNS `Publish` or,
//! with `sms-aliyun`, Aliyun SMS, whichever `SMS_SENDER` names. Only that one is built at cold
//! start. What every sender gets is a rendered [`Message`]: the registered text, the code
//! filled in (sms_templates.rs).

#[cfg(feature = "sms-aliyun")]
pub mod aliyun;
pub mod sns;

use std::future::Future;

use crate::config::{SmsConfig, SmsSenderKind};
use crate::sms_templates::Message;
use crate::ApiError;

/// One way to deliver an SMS. A failure is already the answer the caller gives: 503 for an
/// outage or a misconfigured account, 429 or 400 for the provider's documented refusals of
/// this number; never the provider's own text (it can quote the number).
pub trait Sender {
    fn send(&self, phone_e164: &str, message: &Message) -> impl Future<Output = Result<(), ApiError>> + Send;
}

/// The configured sender, built once per cold start.
pub enum SmsSender {
    Sns(sns::SnsSender),
    #[cfg(feature = "sms-aliyun")]
    Aliyun(aliyun::AliyunSender),
}

impl SmsSender {
    pub fn new(sdk: &aws_config::SdkConfig, cfg: &SmsConfig) -> Self {
        match cfg.sender {
            #[cfg(feature = "sms-aliyun")]
            SmsSenderKind::Aliyun => SmsSender::Aliyun(aliyun::AliyunSender::new(&cfg.aliyun)),
            // Config::from_env refuses SMS_SENDER=aliyun in a build without the feature.
            _ => SmsSender::Sns(sns::SnsSender::new(sdk, cfg)),
        }
    }
}

impl Sender for SmsSender {
    async fn send(&self, phone_e164: &str, message: &Message) -> Result<(), ApiError> {
        match self {
            SmsSender::Sns(s) => s.send(phone_e164, message).await,
            #[cfg(feature = "sms-aliyun")]
            SmsSender::Aliyun(s) => s.send(phone_e164, message).await,
        }
    }
}
