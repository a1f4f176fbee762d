//! Sending SMS through SNS `Publish` (only functions built with the `sms` feature link it).

use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::operation::publish::PublishError;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::config::SmsConfig;
use crate::ApiError;

pub struct SmsSender {
    client: aws_sdk_sns::Client,
}

impl SmsSender {
    pub fn new(sdk: &aws_config::SdkConfig, _cfg: &SmsConfig) -> Self {
        SmsSender { client: aws_sdk_sns::Client::from_conf(crate::deadlines::sns(sdk)) }
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
            .map_err(|e| ApiError::Unavailable(format!("sns publish: {}", failure_kind(&e))))
    }
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
