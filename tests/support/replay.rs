//! The replay of `events/` shared by `tests/events.rs` (in process, through `lambda_http`) and
//! `tests/lambda_rie.rs` (the real binaries under AWS's Runtime Interface Emulator): every
//! sample event, in an order that makes each one succeed, with the status it must produce.

use std::path::{Path, PathBuf};

use shared::Function;

/// Files (stems under `events/`) in the order they are replayed, with the status each must
/// produce. The part of a stem before `-` is the function's crate name.
pub const SEQUENCE: &[(&str, u16)] = &[
    ("register", 200),
    ("register-options", 204),
    ("login", 200),
    ("login-options", 204),
    ("rooms-create", 201),
    ("rooms-list", 200),
    ("rooms-get", 200),
    ("rooms-update", 200),
    ("rooms-delete", 204),
    ("rooms-options", 204),
    ("user_info", 200),
    ("user_info-get", 200),
    ("user_info-options", 204),
    ("user_icon", 200),
    // The picture itself: a 16×16 PNG, base64 as API Gateway hands binary media types over.
    ("user_icon-upload", 200),
    ("user_icon-options", 204),
    ("user_password", 200),
    ("user_password-options", 204),
    // The refresh token user_password's answer carried; logout then ends that session.
    ("token_refresh", 200),
    ("token_refresh-options", 204),
    ("logout", 200),
    ("logout-options", 204),
    ("phone_captcha", 200),
    ("phone_captcha-options", 204),
    // Uses the code phone_captcha sent, read back from moto: account 2, verified phone.
    ("phone_login", 200),
    // A new code for that phone (the used one is gone, so no resend wait) resets account 2's
    // password.
    ("phone_captcha-reset", 200),
    ("password_reset", 200),
    ("password_reset-options", 204),
    // A code for a second phone, bound to account 2 with the token the reset issued.
    ("phone_captcha-bind", 200),
    ("phone_bind", 200),
    ("phone_bind-options", 204),
    // Verified against a stand-in WeChat (see `stand_in_wechat`): account 3.
    ("sns_login", 201),
    ("sns_login-options", 204),
    // Account 3 has no password and no phone: its minutes-old token is the re-authentication.
    ("account_delete", 204),
];

/// The token the sample files carry; replaced by the live one before each call.
pub const SAMPLE_TOKEN: &str = "8ca6dd209e7f780229cdee74ef525dfe";
/// The same for the refresh token of the token_refresh sample.
pub const SAMPLE_REFRESH_TOKEN: &str = "5f0c4a1e9b7d3c2a8e6f4b1d0c9a7e5f3b2d1c0a9e8f7d6c5b4a3e2f1d0c9b8a";

/// The token and refresh token of the replay so far: the latest answer that carried them.
pub struct Live {
    pub token: String,
    pub refresh: String,
}

impl Default for Live {
    fn default() -> Self {
        Live { token: SAMPLE_TOKEN.to_owned(), refresh: SAMPLE_REFRESH_TOKEN.to_owned() }
    }
}

impl Live {
    /// A live 24 h token (the refresh token stays the sample's).
    pub fn with_token(token: &str) -> Live {
        Live { token: token.to_owned(), ..Live::default() }
    }

    pub fn update(&mut self, body: &serde_json::Value) {
        if let Some(t) = body["token"].as_str() {
            self.token = t.to_owned();
        }
        if let Some(r) = body["refresh_token"].as_str() {
            self.refresh = r.to_owned();
        }
    }
}
/// The captcha and phone of the phone_login sample: the code is replaced by the one moto
/// recorded for that phone, as the phone would have received it.
pub const SAMPLE_CAPTCHA: &str = "123456";
pub const SAMPLE_PHONE: &str = "+8613800138000";
/// The phone the phone_bind sample binds.
pub const SAMPLE_BIND_PHONE: &str = "+8613800138001";

pub fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// The function a sample event belongs to.
pub fn function_of(file_stem: &str) -> Function {
    let crate_name = file_stem.split('-').next().unwrap();
    *Function::ALL.iter().find(|f| f.crate_name() == crate_name).unwrap_or_else(|| panic!("no function {crate_name}"))
}

/// Every stem under `events/`, sorted.
pub fn event_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(events_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

/// The sample event `stem`, carrying the live tokens instead of the sample ones (and, for the
/// events that take a captcha, the code last sent to their phone instead of the sample code).
pub async fn event(stem: &str, live: &Live) -> String {
    let raw = std::fs::read_to_string(events_dir().join(format!("{stem}.json")))
        .unwrap_or_else(|e| panic!("events/{stem}.json: {e}"))
        .replace(SAMPLE_TOKEN, &live.token)
        .replace(SAMPLE_REFRESH_TOKEN, &live.refresh);
    if raw.contains("captcha") {
        let phone = if raw.contains(&SAMPLE_BIND_PHONE[3..]) { SAMPLE_BIND_PHONE } else { SAMPLE_PHONE };
        return raw.replace(SAMPLE_CAPTCHA, &crate::latest_code(phone).await);
    }
    raw
}

/// Stand-in providers where WeChat vouches for the sns_login sample's token and openid.
pub async fn stand_in_wechat() -> crate::stand_in::StandIns {
    let sample: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(events_dir().join("sns_login.json")).unwrap()).unwrap();
    let body: serde_json::Value = serde_json::from_str(sample["body"].as_str().unwrap()).unwrap();
    let providers = crate::stand_in::StandIns::start().await;
    providers.wechat.grant(body["access_token"].as_str().unwrap(), body["snsid"].as_str().unwrap(), "");
    providers
}

/// Every file is replayed exactly once, and only those.
#[track_caller]
pub fn assert_sequence_covers_events() {
    let mut listed: Vec<String> = SEQUENCE.iter().map(|(f, _)| (*f).to_owned()).collect();
    listed.sort();
    assert_eq!(event_files(), listed, "every events/ file is replayed, and only those");
}
