//! SMS through Aliyun (dysmsapi `SendSms`, API version 2017-05-25): what most apps with
//! mainland users send through, since SNS does not send SMS from AWS's China regions and
//! needs a mainland company's registration to reach +86 from elsewhere.
//!
//! One POST per SMS, signed with Aliyun's RPC signature (HMAC-SHA1 over the sorted,
//! percent-encoded parameters, keyed with the AccessKey secret and `&`), the registered
//! `SignName` and `TemplateCode`, and the code in `TemplateParam`. Aliyun's answer `Code`
//! decides: `OK` is sent; its flow control of a number is the resend limit (429); a number it
//! calls invalid or blocked is 400 on `phone`; anything else (account, balance, template,
//! signature, key, system errors) is the operator's to fix and a 503 here, logged with the code
//! only (the `Message` can quote the number).

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::config::AliyunConfig;
use crate::https::HttpClient;
use crate::secrets::Secret;
use crate::sms_templates::Message;
use crate::ApiError;

/// What a throttled number should wait: Aliyun's verification-code flow control allows one
/// SMS per number per minute (then 5 an hour, 10 a day).
const THROTTLED_RETRY_AFTER: u64 = 60;

pub struct AliyunSender {
    http: HttpClient,
    endpoint: String,
    region: String,
    access_key_id: String,
    access_key_secret: Secret,
}

impl AliyunSender {
    pub fn new(cfg: &AliyunConfig) -> Self {
        AliyunSender {
            http: HttpClient::new(cfg.timeout),
            endpoint: format!("{}/", cfg.endpoint.trim_end_matches('/')),
            region: cfg.region.clone(),
            access_key_id: cfg.access_key_id.clone(),
            access_key_secret: cfg.access_key_secret.clone(),
        }
    }

    /// The signed parameters of one SendSms call (the `Signature` last).
    fn request(&self, phone_e164: &str, message: &Message, nonce: &str, timestamp: &str) -> Vec<(String, String)> {
        let params: serde_json::Map<String, serde_json::Value> =
            message.params.iter().map(|(k, v)| ((*k).to_owned(), v.clone().into())).collect();
        let mut query: Vec<(String, String)> = [
            ("AccessKeyId", self.access_key_id.as_str()),
            ("Action", "SendSms"),
            ("Format", "JSON"),
            ("PhoneNumbers", aliyun_number(phone_e164)),
            ("RegionId", self.region.as_str()),
            ("SignName", message.sign_name.as_str()),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", nonce),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", message.template_code.as_deref().unwrap_or("")),
            ("TemplateParam", &serde_json::Value::Object(params).to_string()),
            ("Timestamp", timestamp),
            ("Version", "2017-05-25"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let signature = sign("POST", &query, self.access_key_secret.expose());
        query.push(("Signature".into(), signature));
        query
    }
}

impl super::Sender for AliyunSender {
    async fn send(&self, phone_e164: &str, message: &Message) -> Result<(), ApiError> {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|e| ApiError::Unavailable(format!("rng: {e}")))?;
        let nonce = hex::encode(random);
        let timestamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let query = self.request(phone_e164, message, &nonce, &timestamp);
        let form: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let answer = self
            .http
            .post_form(&self.endpoint, &form)
            .await
            .map_err(|e| ApiError::Unavailable(format!("aliyun sms: {e}")))?;
        let code = serde_json::from_slice::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| v["Code"].as_str().map(str::to_owned))
            .ok_or_else(|| ApiError::Unavailable(format!("aliyun sms: HTTP {} without a Code", answer.status)))?;
        outcome(&code)
    }
}

/// Aliyun's answer code as the API's answer.
pub fn outcome(code: &str) -> Result<(), ApiError> {
    match code {
        "OK" => Ok(()),
        // Flow control of this number (per minute, hour or day) or of the signature.
        c if c.starts_with("isv.BUSINESS_LIMIT_CONTROL")
            || c.starts_with("isv.DAY_LIMIT_CONTROL")
            || c.starts_with("BUSINESS_LIMIT_CONTROL") =>
        {
            Err(ApiError::RateLimited { id: "sms_resend_too_soon", retry_after: THROTTLED_RETRY_AFTER })
        }
        "isv.MOBILE_NUMBER_ILLEGAL" | "isv.PHONE_NUMBER_ILLEGAL" | "isv.MOBILE_COUNT_OVER_LIMIT" => {
            Err(ApiError::invalid("phone", "不是可以接收短信的手机号"))
        }
        // The number is on a blacklist (the carrier's or the owner's unsubscribe).
        "isv.BLACK_KEY_CONTROL_LIMIT" | "isv.MOBILE_IN_BLACK" | "isv.DENY_IP_RANGE" => {
            Err(ApiError::invalid("phone", "该号码无法接收短信"))
        }
        other => Err(ApiError::Unavailable(format!("aliyun sms refused: {other}"))),
    }
}

/// Mainland numbers as Aliyun's domestic API takes them (11 digits), others with their
/// country code and no `+` (its international format).
fn aliyun_number(phone_e164: &str) -> &str {
    phone_e164.strip_prefix("+86").unwrap_or_else(|| phone_e164.trim_start_matches('+'))
}

/// Aliyun's RPC signature: Base64(HMAC-SHA1(secret + "&", method & %2F & encode(sorted query))).
pub fn sign(method: &str, params: &[(String, String)], secret: &str) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let canonical = sorted.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
    let string_to_sign = format!("{method}&{}&{}", encode("/"), encode(&canonical));
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes()).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// RFC 3986 percent-encoding, as Aliyun's signature wants it: unreserved characters as they
/// are, every other byte of the UTF-8 `%XX` in upper case (so a space is `%20`, `*` is `%2A`).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of Aliyun's "Signature mechanism" page (DescribeRegions, key
    /// `testsecret`): the same bytes give the published signature.
    #[test]
    fn the_signature_is_aliyuns_published_example() {
        let params: Vec<(String, String)> = [
            ("Timestamp", "2016-02-23T12:46:24Z"),
            ("Format", "XML"),
            ("AccessKeyId", "testid"),
            ("Action", "DescribeRegions"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
            ("Version", "2014-05-26"),
            ("SignatureVersion", "1.0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(sign("GET", &params, "testsecret"), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
    }

    #[test]
    fn encoding_is_rfc_3986() {
        assert_eq!(encode("a b*c~d"), "a%20b%2Ac~d");
        assert_eq!(encode("【签名】"), "%E3%80%90%E7%AD%BE%E5%90%8D%E3%80%91");
        assert_eq!(encode("{\"code\":\"1\"}"), "%7B%22code%22%3A%221%22%7D");
    }

    #[test]
    fn answer_codes_become_the_documented_failures() {
        assert!(outcome("OK").is_ok());
        for throttled in ["isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "BUSINESS_LIMIT_CONTROL_MINUTE"] {
            assert!(matches!(outcome(throttled), Err(ApiError::RateLimited { id: "sms_resend_too_soon", .. })));
        }
        for bad_number in ["isv.MOBILE_NUMBER_ILLEGAL", "isv.BLACK_KEY_CONTROL_LIMIT"] {
            assert!(matches!(outcome(bad_number), Err(ApiError::InvalidField { field: "phone", .. })));
        }
        for operator in
            ["isv.AMOUNT_NOT_ENOUGH", "isv.SMS_TEMPLATE_ILLEGAL", "SignatureDoesNotMatch", "isp.SYSTEM_ERROR"]
        {
            assert!(matches!(outcome(operator), Err(ApiError::Unavailable(_))), "{operator}");
        }
    }

    #[test]
    fn numbers_are_national_for_china_and_without_plus_elsewhere() {
        assert_eq!(aliyun_number("+8613800138000"), "13800138000");
        assert_eq!(aliyun_number("+85291234567"), "85291234567");
    }
}
