//! SMS through SNS `Publish`: the text is sent as rendered (signature and registered template),
//! with the registered sender ID and origination number where the destination requires them.

use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::config::SmsConfig;
use crate::sms_templates::Message;
use crate::ApiError;

pub struct SnsSender {
    client: aws_sdk_sns::Client,
    sender_id: Option<String>,
    origination_number: Option<String>,
}

impl SnsSender {
    pub fn new(sdk: &aws_config::SdkConfig, cfg: &SmsConfig) -> Self {
        Self::from_client(aws_sdk_sns::Client::from_conf(crate::deadlines::sns(sdk)), cfg)
    }

    pub fn from_client(client: aws_sdk_sns::Client, cfg: &SmsConfig) -> Self {
        let set = |v: &str| Some(v.to_owned()).filter(|v| !v.is_empty());
        SnsSender { client, sender_id: set(&cfg.sns_sender_id), origination_number: set(&cfg.sns_origination_number) }
    }
}

impl super::Sender for SnsSender {
    /// A transactional SMS (SNS's class for one-time codes: higher delivery priority).
    async fn send(&self, phone_e164: &str, message: &Message) -> Result<(), ApiError> {
        let mut publish = self
            .client
            .publish()
            .phone_number(phone_e164)
            .message(&message.text)
            .message_attributes("AWS.SNS.SMS.SMSType", attribute("Transactional")?);
        if let Some(id) = &self.sender_id {
            publish = publish.message_attributes("AWS.SNS.SMS.SenderID", attribute(id)?);
        }
        if let Some(number) = &self.origination_number {
            publish = publish.message_attributes("AWS.MM.SMS.OriginationNumber", attribute(number)?);
        }
        publish
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ApiError::Unavailable(format!("sns publish: {}", failure_kind(&e))))
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, ApiError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| ApiError::Unavailable(format!("sns request: {e}")))
}

/// What went wrong, without SNS's message text: that can quote the phone number
/// ("Invalid parameter: PhoneNumber Reason: +86... is not valid"), and no log line may hold one.
fn failure_kind<R>(err: &SdkError<PublishError, R>) -> String {
    match err {
        SdkError::ServiceError(e) => format!("service error {}", e.err().code().unwrap_or("without code")),
        SdkError::TimeoutError(_) => "timeout".into(),
        SdkError::DispatchFailure(e) if e.is_timeout() => "timeout (dispatch)".into(),
        SdkError::DispatchFailure(e) if e.is_io() => "connection failed".into(),
        SdkError::DispatchFailure(_) => "dispatch failure".into(),
        SdkError::ResponseError(_) => "unreadable response".into(),
        SdkError::ConstructionFailure(_) => "request construction".into(),
        _ => "unknown failure".into(),
    }
}
