//! Issue 30: SMS that reaches mainland phones. The texts are registered templates from
//! configuration (per purpose and language, behind the signature); the sender is SNS (moto) or
//! Aliyun SMS (a stand-in that checks Aliyun's documented request signing); Aliyun's refusals
//! are the documented FAIL envelopes, its outages 503 within 5 s, and an unsent SMS gives its
//! send slot back.

use std::time::{Duration, Instant};

use api_tests::aliyun::{AliyunStandIn, Mode, ACCESS_KEY_SECRET, SIGN_NAME};
use api_tests::{sms_for, unique_phone, Method, TestApi};
use serde_json::json;
use shared::sms_templates::SmsTemplates;
use shared::Config;

/// Registered at Aliyun under these codes: the same texts in Aliyun's `${var}` spelling.
const REGISTERED: [(&str, &str); 5] = [
    ("SMS_100001", "您的登录验证码是${code}，${minutes}分钟内有效。"),
    ("SMS_100002", "您正在重置密码，验证码${code}，切勿告诉他人。"),
    ("SMS_100003", "您正在绑定手机，验证码${code}。"),
    ("SMS_100004", "您正在注销账号，验证码${code}，${minutes}分钟内有效。"),
    ("SMS_200001", "Your login code is ${code}, valid for ${minutes} minutes."),
];

fn templates() -> SmsTemplates {
    let entry = |code: &str| {
        let text = REGISTERED.iter().find(|(c, _)| *c == code).unwrap().1.replace("${", "{");
        json!({"text": text, "aliyun": code})
    };
    let config = json!({
        "signature": format!("【{SIGN_NAME}】"),
        "templates": {
            "login": {"zh-CN": entry("SMS_100001"), "en": entry("SMS_200001")},
            "reset": {"zh-CN": entry("SMS_100002")},
            "bind": {"zh-CN": entry("SMS_100003")},
            "delete": {"zh-CN": entry("SMS_100004")},
        }
    });
    SmsTemplates::parse(&config.to_string()).unwrap()
}

fn quick(c: &mut Config) {
    c.sms.resend_interval = Duration::ZERO;
    c.sms.phone_limit = 1000;
    c.sms.phone_ip_limit = 1000;
    c.sms.ip_limit = 1000;
    c.sms.templates = templates();
}

async fn aliyun_api() -> (TestApi, AliyunStandIn) {
    let aliyun = AliyunStandIn::start(&REGISTERED).await;
    let api = TestApi::with_config(|c| {
        quick(c);
        aliyun.configure(c);
    })
    .await;
    (api, aliyun)
}

fn code_in(text: &str) -> String {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits[..6].to_owned()
}

#[tokio::test]
async fn each_purpose_reaches_aliyun_as_its_registered_template_with_the_signature_and_the_code() {
    let (api, aliyun) = aliyun_api().await;
    for (purpose, template) in
        [("login", "SMS_100001"), ("reset", "SMS_100002"), ("bind", "SMS_100003"), ("delete", "SMS_100004")]
    {
        // A phone each: one phone holds at most 3 live codes.
        let (national, e164) = unique_phone();
        api.post("/phonelogin/", json!({"phone": national, "purpose": purpose})).await.assert_success(200);
        let sms = aliyun.delivered().pop().unwrap();
        assert_eq!(sms.template_code, template, "{purpose}");
        assert_eq!(sms.phone, national, "mainland numbers go to Aliyun without +86");
        let code = code_in(&sms.text);
        let registered = aliyun.templates()[template].replace("${code}", &code).replace("${minutes}", "5");
        assert_eq!(sms.text, format!("【{SIGN_NAME}】{registered}"));
        assert!(sms_for(&e164).await.is_empty(), "nothing went through SNS");
    }
    assert!(aliyun.refused().is_empty(), "{:?}", aliyun.refused());

    // The code Aliyun delivered logs in.
    let (national, _) = unique_phone();
    api.post("/phonelogin/", json!({"phone": national})).await.assert_success(200);
    let code = code_in(&aliyun.delivered().pop().unwrap().text);
    api.get(&format!("/phonelogin/?phone={national}&captcha={code}")).await.assert_success(200);
}

#[tokio::test]
async fn an_app_preferring_english_gets_the_english_template_where_one_is_registered() {
    let (api, aliyun) = aliyun_api().await;
    let (national, _) = unique_phone();
    let english = |purpose: &str| {
        let body = json!({"phone": national, "purpose": purpose}).to_string();
        api.send_raw(
            Method::POST,
            "/phonelogin/",
            Some(body.into_bytes()),
            &[("Accept-Language", "en-US,en;q=0.9,zh;q=0.5")],
        )
    };
    english("login").await.assert_success(200);
    assert_eq!(aliyun.delivered().pop().unwrap().template_code, "SMS_200001");
    // No English reset text is registered: the Chinese one.
    english("reset").await.assert_success(200);
    assert_eq!(aliyun.delivered().pop().unwrap().template_code, "SMS_100002");
}

#[tokio::test]
async fn sns_sends_exactly_the_registered_text_behind_the_signature() {
    let api = TestApi::with_config(quick).await;
    let (national, e164) = unique_phone();
    api.post("/phonelogin/", json!({"phone": national, "purpose": "delete"})).await.assert_success(200);
    let text = sms_for(&e164).await.pop().unwrap();
    let code = code_in(&text);
    assert_eq!(text, format!("【{SIGN_NAME}】您正在注销账号，验证码{code}，5分钟内有效。"));
}

#[tokio::test]
async fn aliyun_refusals_are_the_documented_envelopes_and_give_the_send_back() {
    let (api, aliyun) = aliyun_api().await;
    // The resend interval back at 60 s: a send that was not given back would block the next.
    let api = {
        drop(api);
        TestApi::with_config(|c| {
            quick(c);
            c.sms.resend_interval = Duration::from_secs(60);
            aliyun.configure(c);
        })
        .await
    };
    let (national, _) = unique_phone();
    let send = || api.post("/phonelogin/", json!({"phone": national}));

    aliyun.set_mode(Mode::Refuse("isv.BUSINESS_LIMIT_CONTROL"));
    let throttled = send().await;
    throttled.assert_fail(429);
    assert_eq!(throttled.body["error"], "sms_resend_too_soon");
    assert_eq!(throttled.headers["retry-after"], "60");

    for code in ["isv.MOBILE_NUMBER_ILLEGAL", "isv.BLACK_KEY_CONTROL_LIMIT"] {
        aliyun.set_mode(Mode::Refuse(code));
        let refused = send().await;
        refused.assert_fail(400);
        assert_eq!(refused.body["field"], "phone", "{code}");
    }
    for code in ["isv.AMOUNT_NOT_ENOUGH", "isv.SMS_TEMPLATE_ILLEGAL", "isp.SYSTEM_ERROR"] {
        aliyun.set_mode(Mode::Refuse(code));
        let down = send().await;
        down.assert_fail(503);
        let raw = String::from_utf8_lossy(&down.raw);
        assert!(!raw.contains("isv.") && !raw.contains(&national), "no provider text in the answer: {raw}");
    }
    // Every refused send was given back: the first real one goes out at once.
    aliyun.set_mode(Mode::Normal);
    send().await.assert_success(200);
    assert_eq!(aliyun.delivered().len(), 1);
}

#[tokio::test]
async fn a_stalled_aliyun_is_503_within_five_seconds_and_the_slot_is_given_back() {
    let aliyun = AliyunStandIn::start(&REGISTERED).await;
    let api = TestApi::with_config(|c| {
        quick(c);
        c.sms.resend_interval = Duration::from_secs(60);
        aliyun.configure(c);
    })
    .await;
    let (national, _) = unique_phone();
    aliyun.set_mode(Mode::Stall(Duration::from_secs(30)));
    let started = Instant::now();
    let stalled = api.post("/phonelogin/", json!({"phone": national})).await;
    stalled.assert_fail(503);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    aliyun.set_mode(Mode::Normal);
    api.post("/phonelogin/", json!({"phone": national})).await.assert_success(200);
}

#[tokio::test]
async fn a_request_signed_with_another_secret_is_refused_by_aliyun_and_is_503() {
    let aliyun = AliyunStandIn::start(&REGISTERED).await;
    let api = TestApi::with_config(|c| {
        quick(c);
        aliyun.configure(c);
        c.sms.aliyun.access_key_secret = shared::secrets::Secret::new(format!("{ACCESS_KEY_SECRET}-old"));
    })
    .await;
    let (national, _) = unique_phone();
    api.post("/phonelogin/", json!({"phone": national})).await.assert_fail(503);
    assert_eq!(aliyun.refused(), ["SignatureDoesNotMatch"]);
    assert!(aliyun.delivered().is_empty());
}
