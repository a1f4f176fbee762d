//! Sending SMS through SNS `Publish` (only functions built with the `sms` feature link it).

use std::time::Duration;

use aws_sdk_sns::config::timeout::TimeoutConfig;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::config::SmsConfig;
use crate::ApiError;

pub struct SmsSender {
    client: aws_sdk_sns::Client,
}

impl SmsSender {
    pub fn new(sdk: &aws_config::SdkConfig, _cfg: &SmsConfig) -> Self {
        // A stuck SNS call must end well inside the Lambda timeout, as a 503.
        let conf = aws_sdk_sns::config::Builder::from(sdk)
            .timeout_config(TimeoutConfig::builder().operation_timeout(Duration::from_secs(5)).build())
            .build();
        SmsSender { client: aws_sdk_sns::Client::from_conf(conf) }
    }

    pub fn from_client(client: aws_sdk_sns::Client) -> Self {
        SmsSender { client }
    }

    /// A transactional SMS (SNS's class for one-time codes: higher delivery priority).
    pub async fn send(&self, phone_e164: &str, text: &str) -> Result<(), ApiError> {
        let sms_type = MessageAttributeValue::builder()
            .data_type("String")
            .string_value("Transactional")
            .build()
            .map_err(|e| ApiError::Unavailable(format!("sns request: {e}")))?;
        self.client
            .publish()
            .phone_number(phone_e164)
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", sms_type)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ApiError::Unavailable(format!("sns publish: {}", DisplayErrorContext(e))))
    }
}
