//! Runtime settings, read once per cold start from the environment the template sets.

use std::env;
use std::time::Duration;

use crate::secrets::Secret;
use crate::sms_templates::SmsTemplates;

/// Largest request body accepted; API.md fixes it at 64 KiB. API Gateway's own 413 names it too.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Clone, Debug)]
pub struct Tables {
    pub users: String,
    pub tokens: String,
    pub rooms: String,
}

impl Tables {
    /// The names the local stack uses: the template's logical ids, behind an optional prefix so
    /// that test runs sharing one DynamoDB Local never see each other's items.
    pub fn local(prefix: &str) -> Self {
        Tables {
            users: format!("{prefix}UsersTable"),
            tokens: format!("{prefix}TokensTable"),
            rooms: format!("{prefix}RoomsTable"),
        }
    }
}

/// Where avatars live (docs/avatars.md): the bucket the functions write to and the public
/// address the objects are read from (CloudFront deployed; moto's S3 locally).
#[derive(Clone, Debug)]
pub struct AvatarConfig {
    pub bucket: String,
    /// `img` is `<public_base>/<key>`; no trailing slash.
    pub public_base: String,
    /// Path-style S3 addresses (`<endpoint>/<bucket>/<key>`): an emulator on 127.0.0.1 has no
    /// per-bucket host names. Deployed, virtual-hosted addresses as AWS recommends.
    pub path_style: bool,
}

/// The local stack's bucket: the template's logical id, lower-cased (S3 bucket names are).
pub const LOCAL_AVATAR_BUCKET: &str = "avatarbucket";

impl AvatarConfig {
    /// A bucket of the emulator at `endpoint` (moto), behind an optional prefix like the
    /// tables' so that test runs sharing one moto never see each other's objects. `img` is then
    /// the emulator's own URL of the object, which a browser on the machine opens.
    pub fn local(prefix: &str, endpoint: &str) -> Self {
        let bucket = format!("{prefix}{LOCAL_AVATAR_BUCKET}").to_ascii_lowercase();
        AvatarConfig { public_base: format!("{}/{bucket}", endpoint.trim_end_matches('/')), bucket, path_style: true }
    }
}

/// Login throttling, counted per (username, source IP) and per username (see auth::lockout).
#[derive(Clone, Debug)]
pub struct LockoutPolicy {
    /// Failures one address may make before its first lock (Cognito: 5).
    pub threshold: u32,
    /// First lock; each further failure doubles it.
    pub base: Duration,
    /// Upper bound of one lock, so a single guess never shuts an address out for longer.
    pub max: Duration,
    /// Failures are counted in a window that starts with the first one; then they are forgotten.
    pub window: Duration,
    /// Failures per username and window, from all addresses together: past it, no password of
    /// that name is checked until the window ends (caps what a botnet can guess).
    pub username_ceiling: u32,
    /// Failures per (username, address) and window. Below `username_ceiling`, so that one
    /// address alone can never shut the owner out.
    pub ip_ceiling: u32,
    /// How long an address that logged into a name with its password stays a known address of
    /// that name, to which `username_ceiling` does not apply.
    pub known_address_ttl: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            threshold: 5,
            base: Duration::from_secs(30),
            max: Duration::from_secs(15 * 60),
            window: Duration::from_secs(24 * 3600),
            username_ceiling: 100,
            ip_ceiling: 50,
            known_address_ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// SMS captcha settings: the channel costs money per message, so every limit is configurable
/// and enforced in DynamoDB.
#[derive(Clone, Debug)]
pub struct SmsConfig {
    /// Country calling codes a `+` number may have (default: mainland China only).
    pub allowed_countries: Vec<String>,
    /// The registered texts, per purpose and language (sms_templates.rs, `SMS_TEMPLATES`).
    pub templates: SmsTemplates,
    /// Who delivers: SNS (default) or Aliyun SMS (`SMS_SENDER`).
    pub sender: SmsSenderKind,
    /// SNS: the registered sender ID (`AWS.SNS.SMS.SenderID`) and origination number
    /// (`AWS.MM.SMS.OriginationNumber`) China and other countries require; none when empty.
    pub sns_sender_id: String,
    pub sns_origination_number: String,
    pub aliyun: AliyunConfig,
    /// Key of the HMAC under which codes are stored; the same in every function.
    pub code_secret: Secret,
    pub code_ttl: Duration,
    /// Tries one code allows, however they arrive.
    pub max_attempts: u32,
    /// Wrong tries at one phone's codes from one source IP per `wrong_try_window`, whatever
    /// codes they were aimed at: re-sending does not buy more guesses. Per address, so that one
    /// address spending it does not shut the owner out (issue 29).
    pub wrong_try_budget: u32,
    /// Wrong tries at one phone's codes from all addresses together per `wrong_try_window`
    /// (caps what a botnet can guess; above `wrong_try_budget`).
    pub wrong_try_ceiling: u32,
    pub wrong_try_window: Duration,
    /// Codes of one phone that are valid at the same time: a re-send never voids a delivered
    /// code, so past this a send waits for the oldest live code to expire or be used.
    pub max_live_codes: u32,
    /// Minimum time between two sends to one phone.
    pub resend_interval: Duration,
    /// Sends to one phone requested from one source IP per `phone_window`.
    pub phone_ip_limit: u32,
    /// Sends to one phone per `phone_window` from all addresses (the ceiling, above
    /// `phone_ip_limit`, so one address cannot use up the phone's allowance).
    pub phone_limit: u32,
    pub phone_window: Duration,
    pub ip_limit: u32,
    pub ip_window: Duration,
    /// Sends from the whole API per hour and per day (UTC), whatever the phone and address:
    /// the brake on SMS pumping across many numbers and proxies (issue 29).
    pub global_hourly_limit: u32,
    pub global_daily_limit: u32,
    /// Sends to one country calling code per hour and per day: pumping pays in expensive
    /// destinations, which this caps apart from the rest.
    pub country_hourly_limit: u32,
    pub country_daily_limit: u32,
    /// Calling codes with their own (hourly, daily) budget instead of the two above
    /// (`SMS_COUNTRY_LIMITS`, e.g. `852=20/200,1=10/50`): the destinations pumping pays in.
    pub country_overrides: Vec<(String, u32, u32)>,
    /// How long an address that used one of a phone's codes stays a known address of that
    /// phone: its sends then do not count toward `phone_limit`.
    pub known_address_ttl: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsSenderKind {
    Sns,
    Aliyun,
}

/// Aliyun SMS (dysmsapi SendSms): where, as whom, how long to wait.
#[derive(Clone, Debug)]
pub struct AliyunConfig {
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    /// From Secrets Manager (`ALIYUN_SMS_SECRET_ARN`) deployed; never in the environment there.
    pub access_key_secret: Secret,
    /// For the whole call, connect to last byte: inside the 5 s every dependency gets.
    pub timeout: Duration,
}

impl Default for AliyunConfig {
    fn default() -> Self {
        AliyunConfig {
            endpoint: "https://dysmsapi.aliyuncs.com".into(),
            region: "cn-hangzhou".into(),
            access_key_id: String::new(),
            access_key_secret: Secret::new(""),
            timeout: Duration::from_secs(3),
        }
    }
}

/// The captcha HMAC key when none is configured: public (it is in this file), so a Lambda
/// refuses to start with it (secrets.rs).
pub const DEVELOPMENT_CAPTCHA_SECRET: &str = "local-development-only-captcha-secret";

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            allowed_countries: vec!["86".into()],
            templates: SmsTemplates::default(),
            sender: SmsSenderKind::Sns,
            sns_sender_id: String::new(),
            sns_origination_number: String::new(),
            aliyun: AliyunConfig::default(),
            code_secret: Secret::new(DEVELOPMENT_CAPTCHA_SECRET),
            code_ttl: Duration::from_secs(300),
            max_attempts: 5,
            wrong_try_budget: 10,
            wrong_try_ceiling: 100,
            wrong_try_window: Duration::from_secs(24 * 3600),
            max_live_codes: 3,
            resend_interval: Duration::from_secs(60),
            phone_ip_limit: 5,
            phone_limit: 20,
            phone_window: Duration::from_secs(24 * 3600),
            ip_limit: 20,
            ip_window: Duration::from_secs(3600),
            global_hourly_limit: 1000,
            global_daily_limit: 10_000,
            country_hourly_limit: 500,
            country_daily_limit: 5000,
            country_overrides: Vec::new(),
            known_address_ttl: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Third-party login: where and how SnsLogin checks a provider's access token.
#[derive(Clone, Debug)]
pub struct SnsConfig {
    /// Ask the provider before trusting `snsid`. Off only for local development
    /// (`SNS_VERIFY=off`), which a Lambda refuses to start with.
    pub verify: bool,
    /// For the whole provider call, connect to last byte.
    pub timeout: Duration,
    pub wechat_base: String,
    pub qq_base: String,
    pub weibo_base: String,
    /// QQ Connect app id: `oauth2.0/me` must name it as `client_id`, or the token was issued
    /// to some other app.
    pub qq_app_id: String,
    /// Weibo app key: `oauth2/get_token_info` must name it as `appkey`.
    pub weibo_app_key: String,
    pub apple: AppleConfig,
}

/// Sign in with Apple (API.md "Sign in with Apple").
#[derive(Clone, Debug)]
pub struct AppleConfig {
    /// `https://appleid.apple.com`; configuration so that tests use a local stand-in. Also the
    /// identity token's required `iss` when it is Apple's.
    pub api_base: String,
    /// Bundle ids and service ids an identity token's `aud` may name (`APPLE_CLIENT_IDS`,
    /// comma separated). Empty: Sign in with Apple is refused (503), never unchecked.
    pub client_ids: Vec<String>,
    /// An unknown `kid` refetches Apple's keys at most this often.
    pub keys_refetch_interval: Duration,
    /// Apple's keys are trusted this long after they were fetched, then fetched again before
    /// the next token is checked: a key Apple withdrew stops being trusted within this.
    pub keys_max_age: Duration,
    /// Leeway on `exp` (and `iat`) for clock skew.
    pub leeway: Duration,
    /// The credentials of the code exchange and of revocation (team, key id, the .p8 key's PEM
    /// text). All three or the exchange is skipped: the sign-in itself does not need them.
    pub team_id: String,
    pub key_id: String,
    pub private_key: Option<String>,
    /// Lifetime of the ES256 client secret made for each call (Apple allows up to 6 months;
    /// one is made per call, so minutes suffice).
    pub client_secret_ttl: Duration,
    /// Key that seals Apple's refresh tokens at rest (social::apple). Deployed, a generated
    /// Secrets Manager secret (`APPLE_TOKEN_SEAL_KEY_ARN`); the development key works only
    /// outside Lambda (secrets.rs).
    pub seal_key: Secret,
    /// How long a stored Apple refresh token is kept after the sign-in that stored it (the
    /// table's TTL; each sign-in with a code renews it).
    pub token_ttl: Duration,
    /// How long a deleted account's Apple token is kept for revocation retries.
    pub revocation_retry: Duration,
}

/// The Apple token seal key when none is configured: public (it is in this file), so a Lambda
/// that stores Apple tokens refuses to start with it (secrets.rs).
pub const DEVELOPMENT_APPLE_SEAL_KEY: &str = "local-development-only-apple-token-seal-key";

/// The issuer of every genuine identity token, whatever `APPLE_API_BASE` points at.
pub const APPLE_ISSUER: &str = "https://appleid.apple.com";

impl Default for AppleConfig {
    fn default() -> Self {
        AppleConfig {
            api_base: APPLE_ISSUER.into(),
            client_ids: Vec::new(),
            keys_refetch_interval: Duration::from_secs(60),
            keys_max_age: Duration::from_secs(24 * 3600),
            leeway: Duration::from_secs(60),
            team_id: String::new(),
            key_id: String::new(),
            private_key: None,
            client_secret_ttl: Duration::from_secs(300),
            seal_key: Secret::new(DEVELOPMENT_APPLE_SEAL_KEY),
            token_ttl: Duration::from_secs(180 * 86_400),
            revocation_retry: Duration::from_secs(30 * 86_400),
        }
    }
}

impl Default for SnsConfig {
    fn default() -> Self {
        SnsConfig {
            verify: true,
            timeout: Duration::from_secs(2),
            wechat_base: "https://api.weixin.qq.com".into(),
            qq_base: "https://graph.qq.com".into(),
            weibo_base: "https://api.weibo.com".into(),
            qq_app_id: String::new(),
            weibo_app_key: String::new(),
            apple: AppleConfig::default(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub tables: Tables,
    pub token_ttl: Duration,
    /// Lifetime of a refresh token from its issue (each rotation starts a new one, so a
    /// session lives as long as the app refreshes within this).
    pub refresh_ttl: Duration,
    /// How long after its rotation a used refresh token still gets its successor back instead
    /// of revoking the session (API.md: 10 s).
    pub refresh_reuse_grace: Duration,
    pub lockout: LockoutPolicy,
    pub cors_allow_origin: String,
    /// Largest request body accepted; API.md fixes it at 64 KiB.
    pub max_body_bytes: usize,
    pub avatars: AvatarConfig,
    pub sms: SmsConfig,
    pub sns: SnsConfig,
    /// AccountDelete of an account with neither password nor verified phone accepts only a
    /// token issued less than this long ago (API.md: 10 minutes).
    pub delete_reauth_window: Duration,
    /// CloudWatch namespace of the EMF metrics lines (`METRICS_NAMESPACE`); empty: no lines
    /// (local runs), the template sets `MobileBackend/<stack name>`.
    pub metrics_namespace: String,
    /// A request still running after this is answered 503 (deadlines.rs: the whole budget).
    pub request_deadline: Duration,
    /// Rooms one account may own at once (409 `room_quota` beyond).
    pub room_quota: u32,
    /// Account pks, room pks and room numbers a sandbox reserves with one counter write
    /// (`ID_BLOCK_SIZE`, store/counters.rs).
    pub id_block: u64,
    /// The legacy server's base URL for lazy migration at POST /login/ (`LEGACY_API_BASE`,
    /// legacy.rs); empty: off.
    pub legacy_api_base: String,
}

/// 10: one counter write per 10 numbers lifts each counter's ceiling from ~1,000 to ~10,000
/// numbers/s, far above any sign-up or room-creation rate this API expects, while a sandbox
/// that dies wastes at most 9 numbers of each kind. Room numbers are shown to users: a larger
/// block makes them grow (and lengthen) faster for no capacity anyone needs (docs/capacity.md).
pub const ID_BLOCK_DEFAULT: u64 = 10;
/// Blocks above this waste numbers by the thousand per cold start for no gain.
pub const ID_BLOCK_MAX: u64 = 1000;

impl Default for Config {
    fn default() -> Self {
        Config {
            tables: Tables::local(""),
            token_ttl: Duration::from_secs(24 * 3600),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            refresh_reuse_grace: Duration::from_secs(10),
            lockout: LockoutPolicy::default(),
            cors_allow_origin: "*".into(),
            max_body_bytes: MAX_BODY_BYTES,
            avatars: AvatarConfig::local("", "http://127.0.0.1:5000"),
            sms: SmsConfig::default(),
            sns: SnsConfig::default(),
            delete_reauth_window: Duration::from_secs(10 * 60),
            metrics_namespace: String::new(),
            request_deadline: Duration::from_secs(4),
            room_quota: 100,
            id_block: ID_BLOCK_DEFAULT,
            legacy_api_base: String::new(),
        }
    }
}

impl Config {
    /// Reads the variables `template.yaml` sets; anything unset keeps the local default.
    pub fn from_env() -> Result<Self, String> {
        let in_lambda = env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
        let mut c = Config { tables: tables(in_lambda, var)?, ..Config::default() };
        if let Some(v) = var("METRICS_NAMESPACE") {
            c.metrics_namespace = v;
        }
        if let Some(v) = seconds("TOKEN_TTL_SECONDS")? {
            c.token_ttl = v;
        }
        if let Some(v) = seconds("REFRESH_TOKEN_TTL_SECONDS")? {
            c.refresh_ttl = v;
        }
        if let Some(v) = seconds("REFRESH_REUSE_GRACE_SECONDS")? {
            c.refresh_reuse_grace = v;
        }
        if let Some(v) = number("LOGIN_LOCKOUT_THRESHOLD")? {
            c.lockout.threshold = v;
        }
        if let Some(v) = seconds("LOGIN_LOCKOUT_BASE_SECONDS")? {
            c.lockout.base = v;
        }
        if let Some(v) = seconds("LOGIN_LOCKOUT_MAX_SECONDS")? {
            c.lockout.max = v;
        }
        if let Some(v) = seconds("LOGIN_FAILURE_WINDOW_SECONDS")? {
            c.lockout.window = v;
        }
        if let Some(v) = number("LOGIN_USERNAME_CEILING")? {
            c.lockout.username_ceiling = v;
        }
        if let Some(v) = number("LOGIN_IP_CEILING")? {
            c.lockout.ip_ceiling = v;
        }
        if let Some(v) = seconds("LOGIN_KNOWN_ADDRESS_SECONDS")? {
            c.lockout.known_address_ttl = v;
        }
        if let Some(v) = seconds("DELETE_REAUTH_WINDOW_SECONDS")? {
            c.delete_reauth_window = v;
        }
        if let Some(v) = var("REQUEST_DEADLINE_MS") {
            let ms: u64 = v.parse().map_err(|_| "REQUEST_DEADLINE_MS must be whole milliseconds")?;
            if !(500..5000).contains(&ms) {
                return Err("REQUEST_DEADLINE_MS must be 500..4999: API.md wants a 503 within 5 s".into());
            }
            c.request_deadline = Duration::from_millis(ms);
        }
        if let Some(v) = var("ROOM_QUOTA") {
            c.room_quota = v.parse().map_err(|_| "ROOM_QUOTA must be a number")?;
        }
        if let Some(v) = var("ID_BLOCK_SIZE") {
            c.id_block = v.parse().map_err(|_| "ID_BLOCK_SIZE must be a whole number")?;
            if !(1..=ID_BLOCK_MAX).contains(&c.id_block) {
                return Err(format!("ID_BLOCK_SIZE must be 1..={ID_BLOCK_MAX}"));
            }
        }
        c.avatars = avatars(in_lambda, var)?;
        if let Some(v) = var("CORS_ALLOW_ORIGIN") {
            c.cors_allow_origin = v;
        }
        let sms = &mut c.sms;
        if let Some(v) = var("SMS_ALLOWED_COUNTRIES") {
            sms.allowed_countries =
                v.split(',').map(|c| c.trim().trim_start_matches('+').to_owned()).filter(|c| !c.is_empty()).collect();
            if sms.allowed_countries.iter().any(|c| c.len() > 3 || !c.bytes().all(|b| b.is_ascii_digit())) {
                return Err("SMS_ALLOWED_COUNTRIES must be calling codes like 86,852".into());
            }
        }
        if let Some(v) = var("SMS_TEMPLATES") {
            sms.templates = SmsTemplates::parse(&v)?;
        }
        if let Some(v) = var("SMS_SENDER") {
            sms.sender = match v.as_str() {
                "sns" => SmsSenderKind::Sns,
                "aliyun" => SmsSenderKind::Aliyun,
                _ => return Err("SMS_SENDER must be sns or aliyun".into()),
            };
        }
        if let Some(v) = var("SMS_SENDER_ID") {
            sms.sns_sender_id = v;
        }
        if let Some(v) = var("SMS_ORIGINATION_NUMBER") {
            sms.sns_origination_number = v;
        }
        if let Some(v) = var("ALIYUN_SMS_ENDPOINT") {
            if !(v.starts_with("https://") || (!in_lambda && v.starts_with("http://"))) {
                return Err("ALIYUN_SMS_ENDPOINT must be an https:// URL".into());
            }
            sms.aliyun.endpoint = v.trim_end_matches('/').to_owned();
        }
        if let Some(v) = var("ALIYUN_SMS_REGION") {
            sms.aliyun.region = v;
        }
        if let Some(v) = var("ALIYUN_ACCESS_KEY_ID") {
            sms.aliyun.access_key_id = v;
        }
        if let Some(v) = var("ALIYUN_ACCESS_KEY_SECRET") {
            if in_lambda {
                return Err("ALIYUN_ACCESS_KEY_SECRET is refused inside Lambda: use ALIYUN_SMS_SECRET_ARN".into());
            }
            sms.aliyun.access_key_secret = Secret::new(v);
        }
        if sms.sender == SmsSenderKind::Aliyun {
            if cfg!(all(feature = "sms", not(feature = "sms-aliyun"))) {
                return Err("SMS_SENDER=aliyun, but this function was built without the sms-aliyun feature".into());
            }
            sms.templates.check_aliyun_codes()?;
        }
        if let Some(v) = var("CAPTCHA_SECRET") {
            if v.len() < 32 {
                return Err("CAPTCHA_SECRET must be at least 32 characters".into());
            }
            sms.code_secret = Secret::new(v);
        }
        if let Some(v) = seconds("CAPTCHA_TTL_SECONDS")? {
            sms.code_ttl = v;
        }
        if let Some(v) = number("CAPTCHA_MAX_ATTEMPTS")? {
            sms.max_attempts = v;
        }
        if let Some(v) = number("CAPTCHA_WRONG_TRY_BUDGET")? {
            sms.wrong_try_budget = v;
        }
        if let Some(v) = number("CAPTCHA_WRONG_TRY_CEILING")? {
            sms.wrong_try_ceiling = v;
        }
        if let Some(v) = seconds("CAPTCHA_WRONG_TRY_WINDOW_SECONDS")? {
            sms.wrong_try_window = v;
        }
        if let Some(v) = number("SMS_MAX_LIVE_CODES")? {
            sms.max_live_codes = v;
        }
        if let Some(v) = seconds("SMS_RESEND_SECONDS")? {
            sms.resend_interval = v;
        }
        if let Some(v) = number("SMS_PHONE_IP_LIMIT")? {
            sms.phone_ip_limit = v;
        }
        if let Some(v) = number("SMS_PHONE_LIMIT")? {
            sms.phone_limit = v;
        }
        if let Some(v) = seconds("SMS_PHONE_WINDOW_SECONDS")? {
            sms.phone_window = v;
        }
        if let Some(v) = number("SMS_IP_LIMIT")? {
            sms.ip_limit = v;
        }
        if let Some(v) = seconds("SMS_IP_WINDOW_SECONDS")? {
            sms.ip_window = v;
        }
        if let Some(v) = var("SMS_COUNTRY_LIMITS") {
            sms.country_overrides = country_limits(&v)?;
        }
        if let Some(v) = seconds("SMS_KNOWN_ADDRESS_SECONDS")? {
            sms.known_address_ttl = v;
        }
        for (name, slot) in [
            ("SMS_GLOBAL_HOURLY_LIMIT", &mut sms.global_hourly_limit),
            ("SMS_GLOBAL_DAILY_LIMIT", &mut sms.global_daily_limit),
            ("SMS_COUNTRY_HOURLY_LIMIT", &mut sms.country_hourly_limit),
            ("SMS_COUNTRY_DAILY_LIMIT", &mut sms.country_daily_limit),
        ] {
            if let Some(v) = number(name)? {
                *slot = v;
            }
        }
        if let Some(v) = var("SNS_VERIFY") {
            c.sns.verify = sns_verify(&v, in_lambda)?;
        }
        if let Some(v) = var("SNS_PROVIDER_TIMEOUT_MS") {
            let ms: u64 = v.parse().map_err(|_| "SNS_PROVIDER_TIMEOUT_MS must be whole milliseconds")?;
            c.sns.timeout = Duration::from_millis(ms);
        }
        for (name, slot) in [
            ("WECHAT_API_BASE", &mut c.sns.wechat_base),
            ("QQ_API_BASE", &mut c.sns.qq_base),
            ("WEIBO_API_BASE", &mut c.sns.weibo_base),
            ("APPLE_API_BASE", &mut c.sns.apple.api_base),
            ("LEGACY_API_BASE", &mut c.legacy_api_base),
        ] {
            if let Some(v) = var(name) {
                if !(v.starts_with("https://") || v.starts_with("http://")) {
                    return Err(format!("{name} must be an http(s) URL"));
                }
                *slot = v.trim_end_matches('/').to_owned();
            }
        }
        if let Some(v) = var("QQ_APP_ID") {
            c.sns.qq_app_id = v;
        }
        if let Some(v) = var("WEIBO_APP_KEY") {
            c.sns.weibo_app_key = v;
        }
        if let Some(v) = var("APPLE_CLIENT_IDS") {
            c.sns.apple.client_ids = v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
        }
        if let Some(v) = seconds("APPLE_KEYS_REFETCH_SECONDS")? {
            c.sns.apple.keys_refetch_interval = v;
        }
        if let Some(v) = seconds("APPLE_KEYS_MAX_AGE_SECONDS")? {
            c.sns.apple.keys_max_age = v;
        }
        if let Some(v) = var("APPLE_TEAM_ID") {
            c.sns.apple.team_id = v;
        }
        if let Some(v) = var("APPLE_KEY_ID") {
            c.sns.apple.key_id = v;
        }
        if let Some(v) = var("APPLE_PRIVATE_KEY") {
            // A private key in a plain environment variable is readable by anyone who can read
            // the function's configuration: local runs only. Deployed, it comes from a secret.
            if env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
                return Err("APPLE_PRIVATE_KEY is for local runs only; deployed, the key comes from a secret".into());
            }
            c.sns.apple.private_key = Some(v.replace("\\n", "\n"));
        }
        c.check_limits()?;
        Ok(c)
    }

    /// The relations between limits that the guarantees of API.md rest on.
    pub fn check_limits(&self) -> Result<(), String> {
        let (l, s) = (&self.lockout, &self.sms);
        if l.threshold == 0 || l.window.is_zero() {
            return Err("LOGIN_LOCKOUT_THRESHOLD and LOGIN_FAILURE_WINDOW_SECONDS must be positive".into());
        }
        if l.ip_ceiling >= l.username_ceiling {
            return Err(
                "LOGIN_IP_CEILING must be below LOGIN_USERNAME_CEILING (one address must not shut the owner out)"
                    .into(),
            );
        }
        if s.max_attempts == 0 || s.wrong_try_window.is_zero() {
            return Err("CAPTCHA_MAX_ATTEMPTS and CAPTCHA_WRONG_TRY_WINDOW_SECONDS must be positive".into());
        }
        if s.wrong_try_budget >= s.wrong_try_ceiling {
            return Err(
                "CAPTCHA_WRONG_TRY_BUDGET must be below CAPTCHA_WRONG_TRY_CEILING (one address must not shut the owner out)"
                    .into(),
            );
        }
        if !(1..=MAX_LIVE_CODES).contains(&s.max_live_codes) {
            return Err(format!("SMS_MAX_LIVE_CODES must be 1..={MAX_LIVE_CODES}"));
        }
        if s.phone_ip_limit > s.phone_limit {
            return Err("SMS_PHONE_IP_LIMIT must not exceed SMS_PHONE_LIMIT".into());
        }
        Ok(())
    }
}

/// Every live code is a slot of the phone's captcha item, and every try's condition names
/// each slot: a small bound keeps that item and expression small.
pub const MAX_LIVE_CODES: u32 = 10;

impl SmsConfig {
    /// The (hourly, daily) budget of sends to calling code `cc`.
    pub fn country_limits(&self, cc: &str) -> (u32, u32) {
        self.country_overrides
            .iter()
            .find(|(c, _, _)| c == cc)
            .map_or((self.country_hourly_limit, self.country_daily_limit), |(_, h, d)| (*h, *d))
    }
}

/// `SMS_COUNTRY_LIMITS`: `<cc>=<hourly>/<daily>`, comma separated.
fn country_limits(value: &str) -> Result<Vec<(String, u32, u32)>, String> {
    let err = || format!("SMS_COUNTRY_LIMITS must look like 852=20/200,1=10/50, not {value:?}");
    value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (cc, limits) = entry.split_once('=').ok_or_else(err)?;
            let cc = cc.trim().trim_start_matches('+');
            if cc.is_empty() || cc.len() > 3 || !cc.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            let (h, d) = limits.split_once('/').ok_or_else(err)?;
            Ok((cc.to_owned(), h.trim().parse().map_err(|_| err())?, d.trim().parse().map_err(|_| err())?))
        })
        .collect()
}

/// `USERS_TABLE`, `TOKENS_TABLE`, `ROOMS_TABLE`. Outside Lambda an unset name is the local
/// stack's; inside Lambda (deployed, or `sam local`) every name must be set, as the template
/// does: a function that fell back to `UsersTable` would read and write whatever table of that
/// name the account holds, or fail on every request instead of at its cold start.
fn tables(in_lambda: bool, var: impl Fn(&str) -> Option<String>) -> Result<Tables, String> {
    let mut t = Tables::local("");
    for (name, slot) in [("USERS_TABLE", &mut t.users), ("TOKENS_TABLE", &mut t.tokens), ("ROOMS_TABLE", &mut t.rooms)]
    {
        match var(name) {
            Some(v) => *slot = v,
            None if in_lambda => return Err(format!("{name} must be set inside Lambda (template.yaml sets it)")),
            None => {}
        }
    }
    Ok(t)
}

/// `AVATAR_BUCKET` and `AVATAR_BASE_URL` (the CloudFront address), which the template sets for
/// the functions that handle avatars: inside Lambda those cannot fall back to a local name (the
/// same reason as [`tables`]). Outside Lambda the bucket is the local stack's, read through
/// `AWS_ENDPOINT_URL_S3` (moto), and `img` is moto's URL of the object. A custom S3 endpoint is
/// an emulator: path-style addresses.
fn avatars(in_lambda: bool, var: impl Fn(&str) -> Option<String>) -> Result<AvatarConfig, String> {
    let required = in_lambda && cfg!(feature = "avatar-objects");
    let bucket = match var("AVATAR_BUCKET") {
        Some(bucket) => bucket,
        None if required => return Err("AVATAR_BUCKET must be set inside Lambda (template.yaml sets it)".into()),
        None => LOCAL_AVATAR_BUCKET.to_owned(),
    };
    let endpoint = var("AWS_ENDPOINT_URL_S3");
    let public_base = match (var("AVATAR_BASE_URL"), &endpoint) {
        (Some(base), _) if base.starts_with("https://") || base.starts_with("http://") => {
            base.trim_end_matches('/').to_owned()
        }
        (Some(_), _) => return Err("AVATAR_BASE_URL must be an http(s) URL".into()),
        (None, _) if required => return Err("AVATAR_BASE_URL must be set inside Lambda (template.yaml sets it)".into()),
        (None, Some(endpoint)) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
        (None, None) => format!("https://{bucket}.s3.amazonaws.com"),
    };
    Ok(AvatarConfig { bucket, public_base, path_style: endpoint.is_some() })
}

/// `SNS_VERIFY`: `on` or `off`. Off lets anyone log in as any snsid, so it is refused inside a
/// Lambda runtime (deployed, or `sam local`): a mistaken environment variable must not open
/// every third-party account.
fn sns_verify(value: &str, in_lambda: bool) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" => Ok(true),
        "off" | "false" | "0" if in_lambda => {
            Err("SNS_VERIFY=off is for local development only and refused inside Lambda".into())
        }
        "off" | "false" | "0" => Ok(false),
        _ => Err("SNS_VERIFY must be on or off".into()),
    }
}

fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.is_empty())
}

fn number(name: &str) -> Result<Option<u32>, String> {
    var(name).map(|v| v.parse::<u32>().map_err(|_| format!("{name} must be a whole number"))).transpose()
}

fn seconds(name: &str) -> Result<Option<Duration>, String> {
    var(name)
        .map(|v| v.parse::<u64>().map(Duration::from_secs).map_err(|_| format!("{name} must be whole seconds")))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sns_verification_can_be_turned_off_only_outside_lambda() {
        assert_eq!(sns_verify("on", true), Ok(true));
        assert_eq!(sns_verify("ON", false), Ok(true));
        assert_eq!(sns_verify("off", false), Ok(false));
        assert!(sns_verify("off", true).is_err());
        assert!(sns_verify("false", true).is_err());
        assert!(sns_verify("maybe", false).is_err());
        assert!(Config::default().sns.verify, "on unless switched off");
    }

    #[test]
    fn table_names_fall_back_to_the_local_stack_only_outside_lambda() {
        let none = |_: &str| None;
        assert_eq!(tables(false, none).unwrap().users, "UsersTable");
        let err = tables(true, none).unwrap_err();
        assert!(err.contains("USERS_TABLE"), "{err}");
        let all = |name: &str| Some(format!("stack-{name}"));
        let t = tables(true, all).unwrap();
        assert_eq!(
            (t.users.as_str(), t.tokens.as_str(), t.rooms.as_str()),
            ("stack-USERS_TABLE", "stack-TOKENS_TABLE", "stack-ROOMS_TABLE")
        );
        let no_rooms = |name: &str| (name != "ROOMS_TABLE").then(|| "x".to_owned());
        assert!(tables(true, no_rooms).unwrap_err().contains("ROOMS_TABLE"));
        assert_eq!(tables(false, no_rooms).unwrap().rooms, "RoomsTable");
    }

    #[test]
    fn country_budgets_can_be_set_per_calling_code() {
        let parsed = country_limits("852=20/200, +1=10/50").unwrap();
        assert_eq!(parsed, [("852".to_owned(), 20, 200), ("1".to_owned(), 10, 50)]);
        for bad in ["852", "852=20", "x=1/2", "852=a/2", "1234=1/2"] {
            assert!(country_limits(bad).is_err(), "{bad}");
        }
        let sms = SmsConfig { country_overrides: parsed, ..SmsConfig::default() };
        assert_eq!(sms.country_limits("852"), (20, 200));
        assert_eq!(sms.country_limits("86"), (500, 5000), "the default for the others");
    }

    #[test]
    fn avatars_are_read_from_moto_locally_and_from_the_template_s_names_deployed() {
        let none = |_: &str| None;
        let local = avatars(false, none).unwrap();
        assert_eq!((local.bucket.as_str(), local.path_style), (LOCAL_AVATAR_BUCKET, false));
        assert_eq!(local.public_base, "https://avatarbucket.s3.amazonaws.com");
        let moto = |name: &str| (name == "AWS_ENDPOINT_URL_S3").then(|| "http://127.0.0.1:5814/".to_owned());
        let local = avatars(false, moto).unwrap();
        assert_eq!(local.public_base, "http://127.0.0.1:5814/avatarbucket");
        assert!(local.path_style);
        let deployed = |name: &str| match name {
            "AVATAR_BUCKET" => Some("stack-avatarbucket-1x2y".to_owned()),
            "AVATAR_BASE_URL" => Some("https://d111111abcdef8.cloudfront.net/".to_owned()),
            _ => None,
        };
        let d = avatars(true, deployed).unwrap();
        assert_eq!(
            (d.bucket.as_str(), d.public_base.as_str(), d.path_style),
            ("stack-avatarbucket-1x2y", "https://d111111abcdef8.cloudfront.net", false)
        );
        if cfg!(feature = "avatar-objects") {
            assert!(avatars(true, none).unwrap_err().contains("AVATAR_BUCKET"));
        }
    }

    #[test]
    fn the_default_limits_keep_their_promises() {
        let c = Config::default();
        c.check_limits().unwrap();
        let mut one_ip_can_shut_the_owner_out = c.clone();
        one_ip_can_shut_the_owner_out.lockout.ip_ceiling = c.lockout.username_ceiling;
        assert!(one_ip_can_shut_the_owner_out.check_limits().is_err());
        let mut too_many_slots = c;
        too_many_slots.sms.max_live_codes = MAX_LIVE_CODES + 1;
        assert!(too_many_slots.check_limits().is_err());
    }
}
