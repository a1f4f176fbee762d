//! The SMS texts, as registered with the carriers: one per purpose (login, reset, bind, delete)
//! and language (zh-CN, the default, and en), behind one signature.
//!
//! Mainland China delivers an SMS only when its text is a template registered by the sender
//! (AWS End User Messaging's China registration, Aliyun's 模板) and it starts with the
//! registered signature in 【】. So the texts are configuration (`SMS_TEMPLATES`, the
//! template's `SmsTemplates` parameter), not code, and what a sender gets is exactly a
//! registered text with `{code}` and `{minutes}` filled in. A text without `{code}`, or with a
//! placeholder of its own, refuses to start: a typo found at deploy time, not by users who get
//! an SMS without a code.

use serde::Deserialize;
use serde_json::Value;

use crate::domain::Purpose;

/// The languages a text may be registered in; an app asks with `Accept-Language`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    ZhCn,
    En,
}

impl Lang {
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The first language of an `Accept-Language` header that has texts here: English when
    /// the app prefers it to Chinese, else the default, Chinese (`en-US,en;q=0.9` → en,
    /// `zh-Hans-CN` → zh-CN, none or `fr` → zh-CN).
    pub fn from_accept_language(header: Option<&str>) -> Lang {
        let Some(header) = header else { return Lang::ZhCn };
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = pieces.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            let lang = if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else if tag == "zh" || tag.starts_with("zh-") {
                Lang::ZhCn
            } else {
                continue;
            };
            if best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::ZhCn, |(_, lang)| lang)
    }
}

/// One registered text and, for Aliyun, the code it was registered under (`SMS_123456789`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub text: String,
    pub aliyun_code: Option<String>,
}

/// What a sender gets for one SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The signature and the text, placeholders filled in: exactly what SNS sends.
    pub text: String,
    /// The signature without its 【】 (Aliyun's `SignName`).
    pub sign_name: String,
    /// Aliyun's `TemplateCode`, when configured.
    pub template_code: Option<String>,
    /// The placeholders the text uses, with their values (Aliyun's `TemplateParam`, in order).
    pub params: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsTemplates {
    /// Prepended to every text as registered, e.g. `【示例应用】`; empty outside China.
    pub signature: String,
    /// Indexed by `Purpose as usize`, then zh-CN, en. Every purpose has zh-CN.
    texts: [[Option<Template>; 2]; 4],
}

const PLACEHOLDERS: [&str; 2] = ["code", "minutes"];

impl Default for SmsTemplates {
    /// What runs with no configuration (local development, tests): the same texts a Chinese
    /// app would register, without a signature.
    fn default() -> Self {
        let both = |zh: &str, en: &str| {
            [
                Some(Template { text: zh.into(), aliyun_code: None }),
                Some(Template { text: en.into(), aliyun_code: None }),
            ]
        };
        SmsTemplates {
            signature: String::new(),
            texts: [
                both(
                    "您的登录验证码是{code}，{minutes}分钟内有效。",
                    "Your login code is {code}. It expires in {minutes} minutes.",
                ),
                both(
                    "您的重置密码验证码是{code}，{minutes}分钟内有效。",
                    "Your password reset code is {code}. It expires in {minutes} minutes.",
                ),
                both(
                    "您的绑定手机验证码是{code}，{minutes}分钟内有效。",
                    "Your phone binding code is {code}. It expires in {minutes} minutes.",
                ),
                both(
                    "您的注销账号验证码是{code}，{minutes}分钟内有效。请勿告诉他人。",
                    "Your account deletion code is {code}. It expires in {minutes} minutes. Never share it.",
                ),
            ],
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    signature: String,
    templates: serde_json::Map<String, Value>,
}

impl SmsTemplates {
    /// `SMS_TEMPLATES`: `{"signature": "【示例应用】", "templates": {"login": {"zh-CN": "…{code}…",
    /// "en": "…"}, "reset": …, "bind": …, "delete": …}}`; a text is a string, or
    /// `{"text": "…", "aliyun": "SMS_123456789"}` for Aliyun. Every purpose needs zh-CN.
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: Raw = serde_json::from_str(json).map_err(|e| format!("SMS_TEMPLATES is not valid: {e}"))?;
        let mut texts: [[Option<Template>; 2]; 4] = Default::default();
        for (name, by_lang) in &raw.templates {
            let purpose = Purpose::ALL
                .into_iter()
                .find(|p| p.as_str() == name)
                .ok_or_else(|| format!("SMS_TEMPLATES: unknown purpose {name:?} (login, reset, bind, delete)"))?;
            let by_lang = by_lang.as_object().ok_or_else(|| format!("SMS_TEMPLATES.{name}: an object of languages"))?;
            for (tag, entry) in by_lang {
                let lang = [Lang::ZhCn, Lang::En]
                    .into_iter()
                    .find(|l| l.as_str() == tag)
                    .ok_or_else(|| format!("SMS_TEMPLATES.{name}: unknown language {tag:?} (zh-CN, en)"))?;
                let template = match entry {
                    Value::String(text) => Template { text: text.clone(), aliyun_code: None },
                    Value::Object(o) => Template {
                        text: o
                            .get("text")
                            .and_then(Value::as_str)
                            .ok_or(format!("SMS_TEMPLATES.{name}.{tag}.text"))?
                            .into(),
                        aliyun_code: o.get("aliyun").and_then(Value::as_str).map(str::to_owned),
                    },
                    _ => return Err(format!("SMS_TEMPLATES.{name}.{tag}: a text or {{\"text\", \"aliyun\"}}")),
                };
                check_text(&template.text).map_err(|e| format!("SMS_TEMPLATES.{name}.{tag}: {e}"))?;
                texts[purpose as usize][lang as usize] = Some(template);
            }
        }
        for purpose in Purpose::ALL {
            if texts[purpose as usize][Lang::ZhCn as usize].is_none() {
                return Err(format!("SMS_TEMPLATES: {} has no zh-CN text", purpose.as_str()));
            }
        }
        Ok(SmsTemplates { signature: raw.signature, texts })
    }

    /// Every text carries the code Aliyun needs to send it (checked at start when Aliyun sends).
    pub fn check_aliyun_codes(&self) -> Result<(), String> {
        for purpose in Purpose::ALL {
            for lang in [Lang::ZhCn, Lang::En] {
                if let Some(t) = &self.texts[purpose as usize][lang as usize] {
                    if t.aliyun_code.as_deref().is_none_or(str::is_empty) {
                        return Err(format!(
                            "SMS_TEMPLATES: {}.{} has no \"aliyun\" template code (SMS_SENDER=aliyun)",
                            purpose.as_str(),
                            lang.as_str()
                        ));
                    }
                }
            }
        }
        if self.signature.trim_matches(['【', '】']).is_empty() {
            return Err("SMS_TEMPLATES: Aliyun needs the registered signature (SignName)".into());
        }
        Ok(())
    }

    /// The message for `purpose` in `lang` (zh-CN where `lang` has no text).
    pub fn render(&self, purpose: Purpose, lang: Lang, code: &str, minutes: u64) -> Message {
        let slots = &self.texts[purpose as usize];
        let template = slots[lang as usize].as_ref().or(slots[Lang::ZhCn as usize].as_ref()).expect("zh-CN checked");
        let minutes = minutes.to_string();
        let mut params = Vec::with_capacity(2);
        for name in PLACEHOLDERS {
            if template.text.contains(&format!("{{{name}}}")) {
                params.push((name, if name == "code" { code.to_owned() } else { minutes.clone() }));
            }
        }
        let filled = template.text.replace("{code}", code).replace("{minutes}", &minutes);
        Message {
            text: format!("{}{filled}", self.signature),
            sign_name: self.signature.trim_matches(['【', '】']).to_owned(),
            template_code: template.aliyun_code.clone(),
            params,
        }
    }
}

/// `{code}` present exactly once, no placeholder but `{code}` and `{minutes}`.
fn check_text(text: &str) -> Result<(), String> {
    if text.matches("{code}").count() != 1 {
        return Err("the text must contain {code} exactly once".into());
    }
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').ok_or("an unclosed {")? + open;
        let name = &rest[open + 1..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!("unknown placeholder {{{name}}} (only {{code}} and {{minutes}})"));
        }
        rest = &rest[close + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(login_zh: &str) -> String {
        serde_json::json!({
            "signature": "【示例应用】",
            "templates": {
                "login": {"zh-CN": {"text": login_zh, "aliyun": "SMS_1"}, "en": {"text": "Code {code}", "aliyun": "SMS_2"}},
                "reset": {"zh-CN": {"text": "重置验证码{code}", "aliyun": "SMS_3"}},
                "bind": {"zh-CN": {"text": "绑定验证码{code}", "aliyun": "SMS_4"}},
                "delete": {"zh-CN": {"text": "注销验证码{code}，{minutes}分钟", "aliyun": "SMS_5"}}
            }
        })
        .to_string()
    }

    #[test]
    fn a_message_is_the_signature_and_the_registered_text_filled_in() {
        let t = SmsTemplates::parse(&config("您的验证码{code}，{minutes}分钟内有效")).unwrap();
        let m = t.render(Purpose::Login, Lang::ZhCn, "123456", 5);
        assert_eq!(m.text, "【示例应用】您的验证码123456，5分钟内有效");
        assert_eq!(m.sign_name, "示例应用");
        assert_eq!(m.template_code.as_deref(), Some("SMS_1"));
        assert_eq!(m.params, vec![("code", "123456".to_owned()), ("minutes", "5".to_owned())]);
        let en = t.render(Purpose::Login, Lang::En, "123456", 5);
        assert_eq!((en.text.as_str(), en.params.len()), ("【示例应用】Code 123456", 1));
        // No English reset text: the Chinese one.
        assert_eq!(t.render(Purpose::Reset, Lang::En, "000001", 5).template_code.as_deref(), Some("SMS_3"));
        t.check_aliyun_codes().unwrap();
    }

    #[test]
    fn a_text_without_the_code_or_with_an_unknown_placeholder_refuses_to_start() {
        for bad in ["您的验证码，5分钟内有效", "{code}{code}", "验证码{code}，{name}", "验证码{code}{"]
        {
            assert!(SmsTemplates::parse(&config(bad)).is_err(), "{bad}");
        }
        let no_zh = r#"{"templates": {"login": {"en": "x {code}"}, "reset": {"zh-CN": "{code}"}, "bind": {"zh-CN": "{code}"}, "delete": {"zh-CN": "{code}"}}}"#;
        assert!(SmsTemplates::parse(no_zh).unwrap_err().contains("login has no zh-CN"));
        assert!(SmsTemplates::parse(r#"{"templates": {"signup": {"zh-CN": "{code}"}}}"#).is_err());
        assert!(SmsTemplates::parse(r#"{"templates": {}, "other": 1}"#).is_err());
    }

    #[test]
    fn aliyun_needs_a_code_for_every_text_and_a_signature() {
        let plain = r#"{"signature": "【A】", "templates": {"login": {"zh-CN": "{code}"}, "reset": {"zh-CN": "{code}"}, "bind": {"zh-CN": "{code}"}, "delete": {"zh-CN": "{code}"}}}"#;
        assert!(SmsTemplates::parse(plain).unwrap().check_aliyun_codes().is_err());
        assert!(SmsTemplates::default().check_aliyun_codes().is_err());
    }

    #[test]
    fn the_default_texts_name_their_purpose_and_hold_the_code() {
        let t = SmsTemplates::default();
        assert_eq!(t.render(Purpose::Login, Lang::ZhCn, "654321", 5).text, "您的登录验证码是654321，5分钟内有效。");
        for p in Purpose::ALL {
            for lang in [Lang::ZhCn, Lang::En] {
                assert!(t.render(p, lang, "654321", 5).text.contains("654321"), "{p:?} {lang:?}");
            }
        }
    }

    #[test]
    fn accept_language_picks_english_only_when_preferred() {
        assert_eq!(Lang::from_accept_language(None), Lang::ZhCn);
        assert_eq!(Lang::from_accept_language(Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("zh-Hans-CN,zh;q=0.9,en;q=0.8")), Lang::ZhCn);
        assert_eq!(Lang::from_accept_language(Some("fr-FR,en;q=0.5,zh;q=0.7")), Lang::ZhCn);
        assert_eq!(Lang::from_accept_language(Some("fr-FR")), Lang::ZhCn);
        assert_eq!(Lang::from_accept_language(Some("EN")), Lang::En);
    }
}
