//! The one error type of the API. Every failure a handler can meet becomes one of these, and
//! [`ApiError::status`], [`ApiError::id`] and [`ApiError::msg`] are the only place where it
//! is turned into the FAIL envelope's fields.

use std::borrow::Cow;

use crate::store::{ClaimKind, SendLimit, StoreError};

/// `Retry-After` of a 503: a stalled dependency is usually back within seconds, and an app
/// that waits this long spreads its retries instead of hammering a recovering table.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not a JSON object (or not UTF-8, or not JSON at all).
    #[error("malformed body: {0}")]
    MalformedBody(&'static str),
    #[error("body larger than {0} bytes")]
    BodyTooLarge(usize),
    /// An avatar over API.md's limits (4 MiB, 4096 px a side, 16 MP), told by its size or its
    /// header before any pixel is decoded; the detail is for the log.
    #[error("image too large: {0}")]
    ImageTooLarge(String),
    /// Not a decodable JPEG, PNG or WebP, whatever its `Content-Type` said (HTML, SVG, a
    /// polyglot, a truncated file); the decoder's reason is for the log.
    #[error("unsupported image: {0}")]
    UnsupportedImage(String),
    #[error("{field} is required")]
    MissingField { field: &'static str },
    #[error("{field}: {reason}")]
    InvalidField { field: &'static str, reason: Cow<'static, str> },
    #[error("authentication required or token invalid")]
    Unauthorized,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("forbidden")]
    Forbidden,
    /// An operator disabled the account (docs/operator.md): its valid credentials are refused,
    /// and only valid ones learn that (a wrong password stays 401).
    #[error("account disabled")]
    AccountDisabled,
    #[error("{0} not found")]
    NotFound(&'static str),
    /// No route has this path and method. Deployed, API Gateway answers it itself
    /// (`MISSING_AUTHENTICATION_TOKEN`, for an unknown path and for an unknown method alike).
    #[error("no route for this path and method")]
    NoRoute,
    #[error("{field} already taken")]
    Taken { field: &'static str },
    /// A concurrent change won a race the caller may simply retry.
    #[error("concurrent modification")]
    Contended,
    /// The login provider did not vouch for this access token and snsid (invalid, expired,
    /// another user's, or issued to another app).
    #[error("provider refused the access token: {0}")]
    ProviderRejected(String),
    #[error("locked for {retry_after} s")]
    LockedOut { retry_after: u64 },
    /// A paid or abusable channel's limit (SMS sends per phone and per source IP).
    #[error("rate limited ({id}) for {retry_after} s")]
    RateLimited { id: &'static str, retry_after: u64 },
    /// `page * pageSize` beyond the depth a page number may reach: the `after` cursor serves
    /// any depth without reading the rooms before it.
    #[error("page too deep, use the after cursor")]
    UseCursor { max_offset: u64 },
    #[error("room quota of {limit} reached")]
    RoomQuota { limit: u32 },
    #[error("captcha wrong, used, expired or dead")]
    InvalidCaptcha,
    /// The phone's live codes have had all their tries: only a new code can be tried.
    #[error("captcha tries used up")]
    CaptchaTriesUsedUp,
    /// PasswordReset: the captcha proved the phone, but no account holds it as verified phone.
    #[error("no account holds this verified phone")]
    NoAccount,
    /// AccountDelete without the proof the account needs: its password, a captcha for its
    /// verified phone, or (neither) a token younger than the re-authentication window.
    #[error("a fresh login is required")]
    ReauthRequired,
    #[error("upstream provider failed: {0}")]
    BadGateway(String),
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    /// A stored item lacks an attribute its kind is always written with, or holds it in the
    /// wrong type: served as is it would be user 0 or token epoch 0. The log names the item's
    /// key (phones, third-party ids and token hashes only by a digest) and the attribute,
    /// never a value.
    #[error("corrupt item {key}: attribute {attribute} missing or malformed")]
    CorruptItem { key: String, attribute: String },
    // Only API Gateway gives the answers below (see [`gateway_responses`]); a function never does.
    /// A 4xx of API Gateway that no more specific answer covers (e.g. an `Authorization` header
    /// it takes for a malformed AWS signature).
    #[error("request refused by the gateway")]
    GatewayRefused,
    /// The web application firewall blocked the request.
    #[error("blocked by the firewall")]
    Blocked,
    /// The function crashed or gave no valid answer.
    #[error("function failed")]
    FunctionFailed,
    #[error("function timed out")]
    FunctionTimeout,
    /// A 5xx of API Gateway that no more specific answer covers.
    #[error("gateway error")]
    GatewayError,
}

/// The answers API Gateway writes itself, without calling a function: `template.yaml` gives
/// every response type listed here a `GatewayResponses` entry whose status, headers and body are
/// those of `http::envelope::failure` for the error beside it (tests/gateway_responses.rs
/// renders each entry and compares). The numbers are fixed because a gateway response is static.
pub fn gateway_responses() -> [(&'static str, ApiError); 10] {
    [
        // Also an unknown method on a known path: REST APIs do not tell the two apart.
        ("MISSING_AUTHENTICATION_TOKEN", ApiError::NoRoute),
        // The stage's method throttle (100 requests/s, burst 200): a second is enough.
        ("THROTTLED", ApiError::RateLimited { id: "throttled", retry_after: 1 }),
        // Only with a usage plan; its period (day, week, month) is not visible here, so the
        // hint is an hour rather than a retry loop.
        ("QUOTA_EXCEEDED", ApiError::RateLimited { id: "quota_exceeded", retry_after: 3600 }),
        ("WAF_FILTERED", ApiError::Blocked),
        ("INTEGRATION_FAILURE", ApiError::FunctionFailed),
        ("INTEGRATION_TIMEOUT", ApiError::FunctionTimeout),
        // Only with a request validator: the functions validate bodies themselves.
        ("BAD_REQUEST_BODY", ApiError::MalformedBody("不符合接口定义")),
        // API Gateway's 10 MB payload limit; the API's own limit is what an app needs to know.
        ("REQUEST_TOO_LARGE", ApiError::BodyTooLarge(crate::config::MAX_BODY_BYTES)),
        ("DEFAULT_4XX", ApiError::GatewayRefused),
        ("DEFAULT_5XX", ApiError::GatewayError),
    ]
}

/// The one place where a store fact becomes a wire answer: the request field a taken claim
/// names, the id of a refused send, the status of a dead owner.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Taken(kind) => ApiError::Taken {
                field: match kind {
                    ClaimKind::Username => "username",
                    ClaimKind::Sns => "snsid",
                    ClaimKind::Phone => "phone",
                    ClaimKind::RoomAlias => "room_alias",
                },
            },
            StoreError::RoomQuota { limit } => ApiError::RoomQuota { limit },
            // The account was deleted after the request authenticated: its token is dead.
            StoreError::OwnerGone => ApiError::Unauthorized,
            StoreError::Contended => ApiError::Contended,
            StoreError::AccountDisabled => ApiError::AccountDisabled,
            StoreError::Unavailable(chain) => ApiError::Unavailable(chain),
            StoreError::Corrupt { key, attribute } => ApiError::CorruptItem { key, attribute },
            StoreError::SendLimited { limit, retry_after } => ApiError::RateLimited {
                id: match limit {
                    SendLimit::Resend => "sms_resend_too_soon",
                    SendLimit::Ip => "sms_ip_limit",
                    SendLimit::PhoneIp => "sms_phone_ip_limit",
                    SendLimit::Phone => "sms_phone_limit",
                    SendLimit::Global => "sms_global_limit",
                    SendLimit::Country => "sms_country_limit",
                },
                retry_after,
            },
            StoreError::CaptchaLocked { retry_after } => ApiError::LockedOut { retry_after },
            StoreError::CaptchaTriesUsedUp => ApiError::CaptchaTriesUsedUp,
            StoreError::CaptchaRefused => ApiError::InvalidCaptcha,
        }
    }
}

impl ApiError {
    pub fn invalid(field: &'static str, reason: impl Into<Cow<'static, str>>) -> Self {
        ApiError::InvalidField { field, reason: reason.into() }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::MalformedBody(_)
            | ApiError::MissingField { .. }
            | ApiError::InvalidField { .. }
            | ApiError::UseCursor { .. } => 400,
            ApiError::Unauthorized
            | ApiError::BadCredentials
            | ApiError::InvalidCaptcha
            | ApiError::CaptchaTriesUsedUp
            | ApiError::ReauthRequired
            | ApiError::ProviderRejected(_) => 401,
            ApiError::GatewayRefused => 400,
            ApiError::Forbidden | ApiError::AccountDisabled | ApiError::Blocked => 403,
            ApiError::NotFound(_) | ApiError::NoRoute | ApiError::NoAccount => 404,
            ApiError::Taken { .. } | ApiError::Contended | ApiError::RoomQuota { .. } => 409,
            ApiError::BodyTooLarge(_) | ApiError::ImageTooLarge(_) => 413,
            ApiError::UnsupportedImage(_) => 415,
            ApiError::LockedOut { .. } | ApiError::RateLimited { .. } => 429,
            ApiError::GatewayError => 500,
            ApiError::BadGateway(_) | ApiError::FunctionFailed => 502,
            ApiError::Unavailable(_) | ApiError::CorruptItem { .. } => 503,
            ApiError::FunctionTimeout => 504,
        }
    }

    /// Stable snake_case id for clients to branch on; `msg` may be reworded, this may not.
    pub fn id(&self) -> Cow<'static, str> {
        match self {
            ApiError::MalformedBody(_) => "malformed_body".into(),
            ApiError::BodyTooLarge(_) => "body_too_large".into(),
            ApiError::ImageTooLarge(_) => "image_too_large".into(),
            ApiError::UnsupportedImage(_) => "unsupported_image".into(),
            ApiError::MissingField { field } => format!("missing_{field}").into(),
            ApiError::InvalidField { field, .. } => format!("invalid_{field}").into(),
            ApiError::Unauthorized => "invalid_token".into(),
            ApiError::BadCredentials => "invalid_credentials".into(),
            ApiError::ProviderRejected(_) => "sns_auth_failed".into(),
            ApiError::Forbidden => "forbidden".into(),
            ApiError::AccountDisabled => "account_disabled".into(),
            ApiError::NotFound(what) => format!("{what}_not_found").into(),
            ApiError::NoRoute => "route_not_found".into(),
            ApiError::Taken { field } => format!("{field}_taken").into(),
            ApiError::Contended => "concurrent_update".into(),
            ApiError::LockedOut { .. } => "too_many_attempts".into(),
            ApiError::RateLimited { id, .. } => (*id).into(),
            ApiError::InvalidCaptcha => "invalid_captcha".into(),
            ApiError::CaptchaTriesUsedUp => "captcha_tries_used_up".into(),
            ApiError::NoAccount => "no_account".into(),
            ApiError::ReauthRequired => "reauth_required".into(),
            ApiError::UseCursor { .. } => "use_cursor".into(),
            ApiError::RoomQuota { .. } => "room_quota".into(),
            ApiError::BadGateway(_) => "provider_error".into(),
            ApiError::Unavailable(_) => "service_unavailable".into(),
            ApiError::CorruptItem { .. } => "corrupt_item".into(),
            ApiError::GatewayRefused => "bad_request".into(),
            ApiError::Blocked => "request_blocked".into(),
            ApiError::FunctionFailed => "function_error".into(),
            ApiError::FunctionTimeout => "function_timeout".into(),
            ApiError::GatewayError => "gateway_error".into(),
        }
    }

    /// Human-readable, in Chinese like the seed. Internal details (SDK errors) stay in the log.
    pub fn msg(&self) -> String {
        match self {
            ApiError::MalformedBody(what) => format!("请求体格式错误：{what}"),
            ApiError::BodyTooLarge(limit) => format!("请求体过大，最大 {limit} 字节"),
            ApiError::ImageTooLarge(_) => "图片过大：最大 4 MiB，每边不超过 4096 像素，共不超过 16 MP".into(),
            ApiError::UnsupportedImage(_) => "不支持的图片：只接受 JPEG、PNG 或 WebP".into(),
            ApiError::MissingField { field } => format!("缺少必填字段 {field}"),
            ApiError::InvalidField { field, reason } => format!("字段 {field} 无效：{reason}"),
            ApiError::Unauthorized => "token 无效或已过期，请重新登录".into(),
            ApiError::BadCredentials => "用户名或密码错误".into(),
            ApiError::ProviderRejected(_) => "第三方登录验证失败，请重新授权".into(),
            ApiError::Forbidden => "无权操作该资源".into(),
            ApiError::AccountDisabled => "账号已被停用，请联系客服".into(),
            ApiError::NotFound(what) => format!("{what} 不存在"),
            ApiError::NoRoute => "接口不存在，请检查请求地址和请求方法".into(),
            ApiError::Taken { field } => format!("{field} 已被占用"),
            ApiError::Contended => "数据已被并发修改，请重试".into(),
            ApiError::LockedOut { retry_after } => format!("尝试次数过多，请在 {retry_after} 秒后重试"),
            ApiError::RateLimited { retry_after, .. } => format!("请求过于频繁，请在 {retry_after} 秒后重试"),
            ApiError::InvalidCaptcha => "验证码错误或已失效".into(),
            ApiError::CaptchaTriesUsedUp => "验证码尝试次数已用完，请重新获取".into(),
            ApiError::NoAccount => "该手机号未绑定任何账号".into(),
            ApiError::ReauthRequired => "请先验证身份（密码、短信验证码，或重新登录）后再操作".into(),
            ApiError::UseCursor { max_offset } => {
                format!("页码过深：page × pageSize 不能超过 {max_offset}，请用上一页返回的 next 作为 after 继续翻页")
            }
            ApiError::RoomQuota { limit } => format!("每个用户最多拥有 {limit} 个房间"),
            ApiError::BadGateway(_) => "第三方服务响应异常，请稍后重试".into(),
            ApiError::Unavailable(_) => "服务暂时不可用，请稍后重试".into(),
            ApiError::CorruptItem { .. } => "数据异常，已记录，请稍后重试或联系客服".into(),
            ApiError::GatewayRefused => "请求无效，请检查请求地址、方法和请求头".into(),
            ApiError::Blocked => "请求被安全策略拦截".into(),
            ApiError::FunctionFailed => "服务处理异常，请稍后重试".into(),
            ApiError::FunctionTimeout => "服务响应超时，请稍后重试".into(),
            ApiError::GatewayError => "服务器内部错误，请稍后重试".into(),
        }
    }

    /// The field a client should highlight, when the error is about one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ApiError::MissingField { field } | ApiError::InvalidField { field, .. } | ApiError::Taken { field } => {
                Some(field)
            }
            ApiError::UseCursor { .. } => Some("page"),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::LockedOut { retry_after } | ApiError::RateLimited { retry_after, .. } => Some(*retry_after),
            // Every 503 carries it, so an app has one rule; a corrupt item needs an operator, and
            // the app's backoff keeps its retries cheap meanwhile.
            ApiError::Unavailable(_) | ApiError::CorruptItem { .. } => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (status, id, field, Retry-After) of a store error as the client sees it.
    fn wire(err: StoreError) -> (u16, String, Option<&'static str>, Option<u64>) {
        let api = ApiError::from(err);
        (api.status(), api.id().into_owned(), api.field(), api.retry_after())
    }

    #[test]
    fn every_store_error_has_one_wire_answer() {
        let cases = [
            (StoreError::Taken(ClaimKind::Username), (409, "username_taken", Some("username"), None)),
            (StoreError::Taken(ClaimKind::Sns), (409, "snsid_taken", Some("snsid"), None)),
            (StoreError::Taken(ClaimKind::Phone), (409, "phone_taken", Some("phone"), None)),
            (StoreError::Taken(ClaimKind::RoomAlias), (409, "room_alias_taken", Some("room_alias"), None)),
            (StoreError::RoomQuota { limit: 100 }, (409, "room_quota", None, None)),
            (StoreError::OwnerGone, (401, "invalid_token", None, None)),
            (StoreError::Contended, (409, "concurrent_update", None, None)),
            (StoreError::AccountDisabled, (403, "account_disabled", None, None)),
            (StoreError::Unavailable("throttled".into()), (503, "service_unavailable", None, Some(2))),
            (
                StoreError::Corrupt { key: "user#7".into(), attribute: "pk".into() },
                (503, "corrupt_item", None, Some(2)),
            ),
            (
                StoreError::SendLimited { limit: SendLimit::Resend, retry_after: 42 },
                (429, "sms_resend_too_soon", None, Some(42)),
            ),
            (StoreError::SendLimited { limit: SendLimit::Ip, retry_after: 5 }, (429, "sms_ip_limit", None, Some(5))),
            (
                StoreError::SendLimited { limit: SendLimit::PhoneIp, retry_after: 6 },
                (429, "sms_phone_ip_limit", None, Some(6)),
            ),
            (
                StoreError::SendLimited { limit: SendLimit::Phone, retry_after: 7 },
                (429, "sms_phone_limit", None, Some(7)),
            ),
            (
                StoreError::SendLimited { limit: SendLimit::Global, retry_after: 8 },
                (429, "sms_global_limit", None, Some(8)),
            ),
            (
                StoreError::SendLimited { limit: SendLimit::Country, retry_after: 9 },
                (429, "sms_country_limit", None, Some(9)),
            ),
            (StoreError::CaptchaLocked { retry_after: 900 }, (429, "too_many_attempts", None, Some(900))),
            (StoreError::CaptchaTriesUsedUp, (401, "captcha_tries_used_up", None, None)),
            (StoreError::CaptchaRefused, (401, "invalid_captcha", None, None)),
        ];
        for (err, (status, id, field, retry_after)) in cases {
            let shown = format!("{err:?}");
            assert_eq!(wire(err), (status, id.to_owned(), field, retry_after), "{shown}");
        }
    }

    #[test]
    fn store_details_reach_the_log_unchanged_and_never_the_body() {
        let corrupt = ApiError::from(StoreError::Corrupt { key: "user#7".into(), attribute: "token_epoch".into() });
        assert_eq!(corrupt.to_string(), "corrupt item user#7: attribute token_epoch missing or malformed");
        let outage = ApiError::from(StoreError::Unavailable("ThrottlingException: slow down".into()));
        assert_eq!(outage.to_string(), "backend unavailable: ThrottlingException: slow down");
        assert!(!outage.msg().contains("Throttling"), "the SDK's chain stays in the log");
        let quota = ApiError::from(StoreError::RoomQuota { limit: 100 });
        assert!(quota.msg().contains("100"), "the app is told the limit");
    }
}
