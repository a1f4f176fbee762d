//! A stand-in of Aliyun SMS (dysmsapi `SendSms`, 2017-05-25) on 127.0.0.1: it checks each
//! request as Aliyun documents ("Signature mechanism": the RPC signature recomputed here from
//! the received parameters, not by the code under test; a fresh `SignatureNonce`; a `Timestamp`
//! within 15 minutes; the registered `SignName` and `TemplateCode`; `TemplateParam` holding
//! exactly the template's variables) and renders what the phone would receive. It can also
//! answer any of Aliyun's error codes, or stall.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha1::Sha1;
use shared::config::{AliyunConfig, SmsSenderKind};
use shared::secrets::Secret;
use shared::Config;
use tokio::net::TcpListener;

pub const ACCESS_KEY_ID: &str = "LTAI5tStandInKeyId";
pub const ACCESS_KEY_SECRET: &str = "stand-in-access-key-secret-0123456789";
pub const SIGN_NAME: &str = "示例应用";

/// What the stand-in answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// `{"Code": <code>}` with Aliyun's HTTP status for it.
    Refuse(&'static str),
    /// Nothing, for this long.
    Stall(Duration),
}

/// One SMS as the phone would read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub phone: String,
    pub template_code: String,
    pub text: String,
}

#[derive(Default)]
struct State {
    mode: Mutex<Option<Mode>>,
    nonces: Mutex<HashSet<String>>,
    delivered: Mutex<Vec<Delivered>>,
    /// Requests refused for a bad signature, nonce, timestamp, sign name or template.
    refused: Mutex<Vec<String>>,
}

pub struct AliyunStandIn {
    pub endpoint: String,
    state: Arc<State>,
    /// TemplateCode -> registered text (`${code}` style).
    templates: Arc<HashMap<String, String>>,
}

impl AliyunStandIn {
    /// Aliyun with these templates registered under the stand-in's sign name.
    pub async fn start(templates: &[(&str, &str)]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State::default());
        let templates: Arc<HashMap<String, String>> =
            Arc::new(templates.iter().map(|(c, t)| ((*c).to_owned(), (*t).to_owned())).collect());
        let (serving, registered) = (Arc::clone(&state), Arc::clone(&templates));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (state, templates) = (Arc::clone(&serving), Arc::clone(&registered));
                tokio::spawn(async move {
                    let Some(raw) = crate::stand_in::read_raw(&mut stream).await else { return };
                    let mode = state.mode.lock().unwrap().clone().unwrap_or(Mode::Normal);
                    if let Mode::Stall(d) = mode {
                        tokio::time::sleep(d).await;
                        return;
                    }
                    let params: Vec<(String, String)> = form_urlencoded::parse(&raw.body).into_owned().collect();
                    let (status, body) = match check(&raw.method, &params, &state, &templates) {
                        Err(code) => {
                            state.refused.lock().unwrap().push(code.clone());
                            (400, json!({"Code": code, "Message": "refused by the stand-in"}))
                        }
                        Ok(_) if mode != Mode::Normal => {
                            let Mode::Refuse(code) = mode else { unreachable!() };
                            (200, json!({"Code": code, "Message": format!("{code} for 13800138000"), "RequestId": "r"}))
                        }
                        Ok(delivered) => {
                            state.delivered.lock().unwrap().push(delivered);
                            (200, json!({"Code": "OK", "Message": "OK", "BizId": "9006197469364984", "RequestId": "r"}))
                        }
                    };
                    let body = body.to_string();
                    crate::stand_in::write_answer(
                        &mut stream,
                        status,
                        "application/json;charset=utf-8",
                        body.as_bytes(),
                    )
                    .await;
                });
            }
        });
        AliyunStandIn { endpoint, state, templates }
    }

    /// Sends through this stand-in, with its AccessKey.
    pub fn configure(&self, c: &mut Config) {
        c.sms.sender = SmsSenderKind::Aliyun;
        c.sms.aliyun = AliyunConfig {
            endpoint: self.endpoint.clone(),
            access_key_id: ACCESS_KEY_ID.into(),
            access_key_secret: Secret::new(ACCESS_KEY_SECRET),
            ..AliyunConfig::default()
        };
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = Some(mode);
    }

    pub fn delivered(&self) -> Vec<Delivered> {
        self.state.delivered.lock().unwrap().clone()
    }

    pub fn refused(&self) -> Vec<String> {
        self.state.refused.lock().unwrap().clone()
    }

    pub fn templates(&self) -> &HashMap<String, String> {
        &self.templates
    }
}

fn check(
    method: &str,
    params: &[(String, String)],
    state: &State,
    templates: &HashMap<String, String>,
) -> Result<Delivered, String> {
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let fixed = [
        ("Action", "SendSms"),
        ("Version", "2017-05-25"),
        ("Format", "JSON"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", ACCESS_KEY_ID),
    ];
    for (name, want) in fixed {
        if get(name) != Some(want) {
            return Err(format!("MissingOrWrong.{name}"));
        }
    }
    let signature = get("Signature").ok_or("MissingSignature")?;
    let unsigned: Vec<(String, String)> = params.iter().filter(|(k, _)| k != "Signature").cloned().collect();
    if signature != documented_signature(method, &unsigned) {
        return Err("SignatureDoesNotMatch".into());
    }
    let nonce = get("SignatureNonce").ok_or("MissingSignatureNonce")?;
    if !state.nonces.lock().unwrap().insert(nonce.to_owned()) {
        return Err("SignatureNonceUsed".into());
    }
    let stamp = get("Timestamp").ok_or("MissingTimestamp")?;
    let at = chrono::DateTime::parse_from_rfc3339(stamp).map_err(|_| "InvalidTimeStamp.Format")?;
    if (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_seconds().abs() > 900 {
        return Err("InvalidTimeStamp.Expired".into());
    }
    if get("SignName") != Some(SIGN_NAME) {
        return Err("isv.SMS_SIGNATURE_ILLEGAL".into());
    }
    let template_code = get("TemplateCode").unwrap_or_default();
    let text = templates.get(template_code).ok_or("isv.SMS_TEMPLATE_ILLEGAL")?;
    let vars: Value =
        serde_json::from_str(get("TemplateParam").unwrap_or("{}")).map_err(|_| "isv.INVALID_JSON_PARAM")?;
    let vars = vars.as_object().ok_or("isv.INVALID_JSON_PARAM")?;
    let mut rendered = text.clone();
    for (name, value) in vars {
        let value = value.as_str().ok_or("isv.INVALID_JSON_PARAM")?;
        let placeholder = format!("${{{name}}}");
        if !rendered.contains(&placeholder) {
            return Err("isv.INVALID_PARAMETERS".into());
        }
        rendered = rendered.replace(&placeholder, value);
    }
    if rendered.contains("${") {
        return Err("isv.TEMPLATE_MISSING_PARAMETERS".into());
    }
    let phone = get("PhoneNumbers").ok_or("isv.MOBILE_NUMBER_ILLEGAL")?.to_owned();
    Ok(Delivered { phone, template_code: template_code.to_owned(), text: format!("【{SIGN_NAME}】{rendered}") })
}

/// The signature as Aliyun's page spells it out, step by step.
fn documented_signature(method: &str, params: &[(String, String)]) -> String {
    // 1. Sort by parameter name; 2. percent-encode name and value (RFC 3986: only A-Z a-z 0-9
    // - _ . ~ stay, space is %20); 3. join with = and &.
    fn pct(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    let mut sorted = params.to_vec();
    sorted.sort();
    let query: Vec<String> = sorted.iter().map(|(k, v)| format!("{}={}", pct(k), pct(v))).collect();
    // 4. StringToSign = method & %2F & pct(query); 5. HMAC-SHA1 keyed with secret + "&", base64.
    let to_sign = format!("{method}&%2F&{}", pct(&query.join("&")));
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{ACCESS_KEY_SECRET}&").as_bytes()).unwrap();
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}
