//! Third-party login providers: asking WeChat, QQ or Weibo whether an access token really
//! belongs to the `snsid` a client claims. The seed trusted `snsid` alone, so anyone who knew a
//! user's openid could log in as them.
//!
//! Three outcomes, whatever the provider:
//! - it vouches for the token, the user and (QQ, Weibo) our app: `Ok`;
//! - it refuses: invalid, expired or revoked token, another user's, another app's:
//!   [`ApiError::ProviderRejected`] (401);
//! - it cannot be asked, or answers something that is not its documented shape (timeout,
//!   refused connection, HTML, truncated JSON, 5xx, "system busy"): [`ApiError::BadGateway`]
//!   (502). Never a login.

pub mod apple;

use serde_json::{Map, Value};

pub use crate::outbound::{Answer, HttpClient};

use crate::config::SnsConfig;
use crate::ApiError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    WeChat,
    Qq,
    Weibo,
    Apple,
}

impl Provider {
    /// API.md's `login_type`: "1" WeChat, "2" QQ, "3" Weibo ("0", password accounts, has no
    /// provider).
    pub fn from_login_type(login_type: &str) -> Option<Self> {
        match login_type {
            "1" => Some(Provider::WeChat),
            "2" => Some(Provider::Qq),
            "3" => Some(Provider::Weibo),
            "4" => Some(Provider::Apple),
            _ => None,
        }
    }

    pub fn login_type(self) -> &'static str {
        match self {
            Provider::WeChat => "1",
            Provider::Qq => "2",
            Provider::Weibo => "3",
            Provider::Apple => "4",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Provider::WeChat => "wechat",
            Provider::Qq => "qq",
            Provider::Weibo => "weibo",
            Provider::Apple => "apple",
        }
    }
}

/// The verifiers, sharing one HTTP client (one connection pool) per cold start, and Apple's
/// keys cached for the life of the sandbox.
pub struct Providers {
    http: HttpClient,
    config: SnsConfig,
    apple: apple::AppleKeys,
}

impl Providers {
    pub fn new(config: SnsConfig) -> Self {
        Providers { http: HttpClient::new(config.timeout), config, apple: apple::AppleKeys::default() }
    }

    pub(crate) fn http(&self) -> &HttpClient {
        &self.http
    }

    /// Sign in with Apple: an authorization code for Apple's refresh token, stored for revocation
    /// only. Nothing happens without Apple credentials configured.
    pub async fn apple_keep_for_revocation(
        &self,
        store: &crate::store::Store,
        user_pk: u64,
        client_id: &str,
        code: &str,
    ) -> Result<(), ApiError> {
        if !apple::can_exchange(&self.config.apple) {
            return Ok(());
        }
        let refresh_token = apple::exchange(&self.http, &self.config.apple, client_id, code).await?;
        let creds = crate::store::AppleCredentials { client_id: client_id.to_owned(), refresh_token };
        Ok(store.put_apple_credentials(user_pk, &creds).await?)
    }

    /// Sign in with Apple: the identity token checked (see `apple`), what it says about the user.
    pub async fn verify_apple(
        &self,
        id_token: &str,
        snsid: &str,
        nonce: Option<&str>,
    ) -> Result<apple::AppleIdentity, ApiError> {
        self.apple.verify(&self.http, &self.config.apple, id_token, snsid, nonce).await
    }

    /// Asks `provider` whether `access_token` is a live token of user `snsid` for our app.
    pub async fn verify(&self, provider: Provider, access_token: &str, snsid: &str) -> Result<(), ApiError> {
        let c = &self.config;
        let name = provider.name();
        let answer = match provider {
            Provider::Apple => return self.verify_apple(access_token, snsid, None).await.map(drop),
            Provider::WeChat => {
                let query = query(&[("access_token", access_token), ("openid", snsid)]);
                self.http.get(&format!("{}/sns/auth?{query}", c.wechat_base)).await
            }
            Provider::Qq => {
                configured("QQ_APP_ID", &c.qq_app_id)?;
                let query = query(&[("access_token", access_token), ("fmt", "json")]);
                self.http.get(&format!("{}/oauth2.0/me?{query}", c.qq_base)).await
            }
            Provider::Weibo => {
                configured("WEIBO_APP_KEY", &c.weibo_app_key)?;
                let url = format!("{}/oauth2/get_token_info", c.weibo_base);
                self.http.post_form(&url, &[("access_token", access_token)]).await
            }
        }
        .map_err(|e| ApiError::BadGateway(format!("{name}: {e}")))?;
        let verdict = match provider {
            Provider::WeChat => wechat(&answer),
            Provider::Qq => qq(&answer, snsid, &c.qq_app_id),
            Provider::Weibo => weibo(&answer, snsid, &c.weibo_app_key),
            Provider::Apple => unreachable!("answered above"),
        };
        verdict.map_err(|refusal| refusal.into_error(name, &answer))
    }
}

/// Without our app id, a token issued to any app would pass: refuse to verify at all.
fn configured(name: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::Unavailable(format!("{name} is not configured")));
    }
    Ok(())
}

fn query(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// Why a provider's answer is not a yes.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// The provider said no.
    Rejected(String),
    /// The answer is not what the provider documents.
    Garbled(String),
}

impl Refusal {
    fn into_error(self, provider: &str, answer: &Answer) -> ApiError {
        match self {
            Refusal::Rejected(why) => ApiError::ProviderRejected(format!("{provider}: {why}")),
            Refusal::Garbled(why) => {
                ApiError::BadGateway(format!("{provider}: {why} (HTTP {}: {})", answer.status, excerpt(&answer.body)))
            }
        }
    }
}

/// The start of an unexpected answer, for the log: enough to tell an HTML error page from cut
/// JSON.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(120)]);
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn object(status: u16, body: &[u8]) -> Result<Map<String, Value>, Refusal> {
    if status >= 500 {
        return Err(Refusal::Garbled("server error".into()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Refusal::Garbled("answer is JSON but not an object".into())),
        Err(_) => Err(Refusal::Garbled("answer is not JSON".into())),
    }
}

/// A number or a string holding one (providers are not consistent about which).
fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An id as text, whether sent as a JSON string or number (Weibo's `uid` is a number).
fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `GET /sns/auth?access_token&openid`: `{"errcode":0,"errmsg":"ok"}` when the token is valid
/// for that openid. Openids are per app, so a token another app obtained does not pass either.
fn wechat(answer: &Answer) -> Result<(), Refusal> {
    let obj = object(answer.status, &answer.body)?;
    match obj.get("errcode").and_then(integer) {
        Some(0) => Ok(()),
        // -1 is "system busy" and 45xxx are call quotas: the provider's problem or ours, not a
        // verdict on the user's token.
        Some(code) if code == -1 || (45000..46000).contains(&code) => Err(Refusal::Garbled(format!("errcode {code}"))),
        Some(code) => Err(Refusal::Rejected(format!("errcode {code}"))),
        None => Err(Refusal::Garbled("no errcode".into())),
    }
}

/// `GET /oauth2.0/me?access_token&fmt=json`: `{"client_id":"<app id>","openid":"<openid>"}`,
/// or `{"error":100016,...}` for a bad token. Without `fmt=json` (and, in practice, sometimes
/// with it) QQ wraps the object as JSONP: `callback( {...} );`.
fn qq(answer: &Answer, snsid: &str, app_id: &str) -> Result<(), Refusal> {
    let obj = object(answer.status, strip_jsonp(&answer.body))?;
    if let Some(code) = obj.get("error") {
        return Err(Refusal::Rejected(format!("error {code}")));
    }
    let (Some(client_id), Some(openid)) = (id_text(obj.get("client_id")), id_text(obj.get("openid"))) else {
        return Err(Refusal::Garbled("no client_id or openid".into()));
    };
    if client_id != app_id {
        return Err(Refusal::Rejected(format!("token issued to app {client_id}")));
    }
    if openid != snsid {
        return Err(Refusal::Rejected("token belongs to another openid".into()));
    }
    Ok(())
}

/// `callback( {...} );` → `{...}`; anything else is returned unchanged.
fn strip_jsonp(body: &[u8]) -> &[u8] {
    let Ok(text) = std::str::from_utf8(body) else { return body };
    let inner = text
        .trim()
        .strip_prefix("callback")
        .and_then(|rest| rest.trim_start().strip_prefix('('))
        .map(|rest| rest.trim_end())
        .map(|rest| rest.strip_suffix(';').unwrap_or(rest).trim_end())
        .and_then(|rest| rest.strip_suffix(')'));
    match inner {
        Some(inner) => inner.trim().as_bytes(),
        None => body,
    }
}

/// `POST /oauth2/get_token_info` (form `access_token`):
/// `{"uid":1073880650,"appkey":"1352222456","scope":null,"create_at":1352267591,"expire_in":157679471}`
/// (`uid` a number or a string, `expire_in` sometimes spelled `expires_in`), or
/// `{"error":"expired_token","error_code":21327,"request":"/oauth2/get_token_info"}`.
fn weibo(answer: &Answer, snsid: &str, app_key: &str) -> Result<(), Refusal> {
    let obj = object(answer.status, &answer.body)?;
    if obj.contains_key("error") || obj.contains_key("error_code") {
        let code = obj.get("error_code").and_then(integer);
        let why = Value::Object(obj).to_string();
        return match code {
            // 21xxx are the OAuth errors (expired, revoked, invalid token); 1xxxx are system
            // errors and limits, not a verdict on the token.
            Some(code) if !(21000..22000).contains(&code) => Err(Refusal::Garbled(why)),
            _ => Err(Refusal::Rejected(why)),
        };
    }
    let (Some(uid), Some(appkey)) = (id_text(obj.get("uid")), id_text(obj.get("appkey"))) else {
        return Err(Refusal::Garbled("no uid or appkey".into()));
    };
    if appkey != app_key {
        return Err(Refusal::Rejected(format!("token issued to app {appkey}")));
    }
    if uid != snsid {
        return Err(Refusal::Rejected("token belongs to another uid".into()));
    }
    let expires_in = obj.get("expire_in").or_else(|| obj.get("expires_in")).and_then(integer);
    if expires_in.is_some_and(|s| s <= 0) {
        return Err(Refusal::Rejected("token expired".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer { status, body: body.to_owned().into() }
    }

    fn rejected<T: std::fmt::Debug>(r: Result<T, Refusal>) -> bool {
        matches!(r, Err(Refusal::Rejected(_)))
    }

    fn garbled<T: std::fmt::Debug>(r: Result<T, Refusal>) -> bool {
        matches!(r, Err(Refusal::Garbled(_)))
    }

    #[test]
    fn wechat_answers() {
        assert_eq!(wechat(&answer(200, r#"{"errcode":0,"errmsg":"ok"}"#)), Ok(()));
        assert!(rejected(wechat(&answer(200, r#"{"errcode":40003,"errmsg":"invalid openid"}"#))));
        assert!(rejected(wechat(&answer(200, r#"{"errcode":42001,"errmsg":"access_token expired"}"#))));
        assert!(garbled(wechat(&answer(200, r#"{"errcode":-1,"errmsg":"system error"}"#))));
        assert!(garbled(wechat(&answer(200, r#"{"errcode":45009,"errmsg":"reach max api daily quota limit"}"#))));
        assert!(garbled(wechat(&answer(200, r#"{"errmsg":"ok"}"#))));
        assert!(garbled(wechat(&answer(200, r#"{"errcode":0,"err"#))));
        assert!(garbled(wechat(&answer(200, "<html><body>502 Bad Gateway</body></html>"))));
        assert!(garbled(wechat(&answer(502, r#"{"errcode":0,"errmsg":"ok"}"#))));
    }

    #[test]
    fn qq_answers_in_json_and_jsonp() {
        let ok = r#"{"client_id":"101234567","openid":"6A1B2C3D4E5F60718293A4B5C6D7E8F9"}"#;
        let snsid = "6A1B2C3D4E5F60718293A4B5C6D7E8F9";
        assert_eq!(qq(&answer(200, ok), snsid, "101234567"), Ok(()));
        assert_eq!(qq(&answer(200, &format!("callback( {ok} );\n")), snsid, "101234567"), Ok(()));
        assert_eq!(qq(&answer(200, &format!("callback({ok})")), snsid, "101234567"), Ok(()));
        assert!(rejected(qq(&answer(200, ok), "6A1B2C3D4E5F60718293A4B5C6D7E8F0", "101234567")));
        assert!(rejected(qq(&answer(200, ok), snsid, "100000001")));
        let bad = r#"{"error":100016,"error_description":"access token check failed"}"#;
        assert!(rejected(qq(&answer(200, bad), snsid, "101234567")));
        assert!(rejected(qq(&answer(200, &format!("callback( {bad} );")), snsid, "101234567")));
        assert!(garbled(qq(&answer(200, r#"callback( {"client_id":"1012"#), snsid, "101234567")));
        assert!(garbled(qq(&answer(200, "<!DOCTYPE html><html></html>"), snsid, "101234567")));
        assert!(garbled(qq(&answer(200, "{}"), snsid, "101234567")));
    }

    #[test]
    fn weibo_answers() {
        let key = "1352222456";
        let ok =
            r#"{"uid":1073880650,"appkey":"1352222456","scope":null,"create_at":1352267591,"expire_in":157679471}"#;
        assert_eq!(weibo(&answer(200, ok), "1073880650", key), Ok(()));
        let string_uid = r#"{"uid":"1073880650","appkey":"1352222456","create_at":1352267591,"expires_in":3600}"#;
        assert_eq!(weibo(&answer(200, string_uid), "1073880650", key), Ok(()));
        assert!(rejected(weibo(&answer(200, ok), "1073880651", key)));
        assert!(rejected(weibo(&answer(200, ok), "1073880650", "9999999999")));
        let expired = r#"{"uid":1073880650,"appkey":"1352222456","create_at":1352267591,"expire_in":0}"#;
        assert!(rejected(weibo(&answer(200, expired), "1073880650", key)));
        let bad = r#"{"error":"invalid_access_token","error_code":21332,"request":"/oauth2/get_token_info"}"#;
        assert!(rejected(weibo(&answer(400, bad), "1073880650", key)));
        let busy = r#"{"error":"system error!","error_code":10001,"request":"/oauth2/get_token_info"}"#;
        assert!(garbled(weibo(&answer(400, busy), "1073880650", key)));
        assert!(garbled(weibo(&answer(200, r#"{"uid":10738"#), "1073880650", key)));
        assert!(garbled(weibo(&answer(500, ok), "1073880650", key)));
    }

    #[test]
    fn login_types() {
        for p in [Provider::WeChat, Provider::Qq, Provider::Weibo, Provider::Apple] {
            assert_eq!(Provider::from_login_type(p.login_type()), Some(p));
        }
        for bad in ["0", "5", "x", "", "01", " 1"] {
            assert_eq!(Provider::from_login_type(bad), None, "{bad}");
        }
    }
}
