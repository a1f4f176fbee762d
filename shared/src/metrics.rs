//! CloudWatch metrics in Embedded Metric Format (EMF): one JSON line on stdout per request that
//! counted something, which CloudWatch Logs turns into metrics without an API call or an agent.
//!
//! A small writer rather than `metrics` + `metrics_cloudwatch_embedded`: those add a global
//! recorder, a registry and a tracing layer to every function for a dozen counters (docs/capacity.md
//! has the measurement). Counts are kept per request in a task-local, so concurrent requests of
//! the local server (and of the tests) never mix; a Lambda sandbox serves one request at a time.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;

use crate::http::routes::Handler;
use crate::ApiError;

/// Every metric a function emits. The names are the CloudWatch metric names the template's
/// alarms and dashboard use (tests/deploy_files.rs holds the two together).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// The first request a sandbox serves (Init ran just before it).
    ColdStart,
    /// Password, phone or third-party login that issued a token.
    LoginOk,
    /// Wrong password, wrong or dead captcha, or a provider refusing the access token.
    LoginFailed,
    /// A login refused before any check by the lockout or the captcha try budget (429).
    LoginLocked,
    /// An SMS handed to SNS.
    CaptchaSent,
    /// A send refused by a send limit (429): many of these is an SMS-pumping attempt.
    CaptchaRefused,
    /// SNS failed to take an SMS (503).
    CaptchaFailed,
    /// A send refused by the global or a country's hourly or daily SMS budget (429): legitimate
    /// users are being refused, by pumping or by a budget set too low.
    SmsBudgetSpent,
    /// A third-party login provider, or SNS, failed (timeout, 5xx, undocumented answer).
    ProviderFailure,
    /// DynamoDB requests (each operation once, however many attempts).
    DynamoDbCalls,
    /// Attempts the SDK repeated (throttling, 5xx, network).
    DynamoDbRetries,
    /// Answers that were throttling errors (on-demand scaling, a hot partition).
    DynamoDbThrottles,
    /// Transactions cancelled by a concurrent transaction on the same item (then retried).
    TransactionConflicts,
    RoomDeleted,
    /// Called by the account deletion.
    AccountDeleted,
}

impl Metric {
    pub const ALL: [Metric; 15] = [
        Metric::ColdStart,
        Metric::LoginOk,
        Metric::LoginFailed,
        Metric::LoginLocked,
        Metric::CaptchaSent,
        Metric::CaptchaRefused,
        Metric::CaptchaFailed,
        Metric::SmsBudgetSpent,
        Metric::ProviderFailure,
        Metric::DynamoDbCalls,
        Metric::DynamoDbRetries,
        Metric::DynamoDbThrottles,
        Metric::TransactionConflicts,
        Metric::RoomDeleted,
        Metric::AccountDeleted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::ColdStart => "ColdStart",
            Metric::LoginOk => "LoginOk",
            Metric::LoginFailed => "LoginFailed",
            Metric::LoginLocked => "LoginLocked",
            Metric::CaptchaSent => "CaptchaSent",
            Metric::CaptchaRefused => "CaptchaRefused",
            Metric::CaptchaFailed => "CaptchaFailed",
            Metric::SmsBudgetSpent => "SmsBudgetSpent",
            Metric::ProviderFailure => "ProviderFailure",
            Metric::DynamoDbCalls => "DynamoDbCalls",
            Metric::DynamoDbRetries => "DynamoDbRetries",
            Metric::DynamoDbThrottles => "DynamoDbThrottles",
            Metric::TransactionConflicts => "TransactionConflicts",
            Metric::RoomDeleted => "RoomDeleted",
            Metric::AccountDeleted => "AccountDeleted",
        }
    }
}

/// What one request counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    by_metric: [u32; Metric::ALL.len()],
    /// DynamoDB transmissions, first attempts and retries alike (retries = these - calls).
    attempts: u32,
}

impl Counts {
    pub fn get(&self, m: Metric) -> u32 {
        self.by_metric[m as usize]
    }

    fn add(&mut self, m: Metric, by: u32) {
        self.by_metric[m as usize] = self.by_metric[m as usize].saturating_add(by);
    }
}

tokio::task_local! {
    static COUNTS: RefCell<Counts>;
}

/// Counts one event of the request being served. Outside a request (a background task, a
/// unit test) it counts nothing.
pub fn count(m: Metric) {
    let _ = COUNTS.try_with(|c| c.borrow_mut().add(m, 1));
}

/// Runs one request with its own counts and returns them with its output.
pub async fn scope<F: Future>(f: F) -> (F::Output, Counts) {
    COUNTS
        .scope(RefCell::new(Counts::default()), async {
            let out = f.await;
            let mut counts = COUNTS.with(|c| *c.borrow());
            let retries = counts.attempts.saturating_sub(counts.get(Metric::DynamoDbCalls));
            counts.add(Metric::DynamoDbRetries, retries);
            (out, counts)
        })
        .await
}

/// What a handler's result says about logins, captchas and providers.
pub(crate) fn count_outcome(handler: Handler, result: &Result<impl Sized, ApiError>) {
    let login = matches!(handler, Handler::Login | Handler::PhoneLogin | Handler::SnsLogin);
    match (handler, result) {
        (_, Ok(_)) if login => count(Metric::LoginOk),
        (Handler::PhoneCaptcha, Ok(_)) => count(Metric::CaptchaSent),
        (Handler::RoomDelete, Ok(_)) => count(Metric::RoomDeleted),
        (Handler::AccountDelete, Ok(_)) => count(Metric::AccountDeleted),
        (Handler::PhoneCaptcha, Err(ApiError::RateLimited { id, .. })) => {
            count(Metric::CaptchaRefused);
            if matches!(*id, "sms_global_limit" | "sms_country_limit") {
                count(Metric::SmsBudgetSpent);
            }
        }
        (_, Err(ApiError::LockedOut { .. } | ApiError::RateLimited { .. })) if login => count(Metric::LoginLocked),
        (
            _,
            Err(
                ApiError::BadCredentials
                | ApiError::InvalidCaptcha
                | ApiError::CaptchaTriesUsedUp
                | ApiError::ProviderRejected(_),
            ),
        ) if login => count(Metric::LoginFailed),
        (Handler::SnsLogin, Err(ApiError::BadGateway(_))) => count(Metric::ProviderFailure),
        _ => {}
    }
}

/// Where the lines go: stdout deployed (CloudWatch Logs), nowhere locally unless asked, a
/// buffer in tests.
#[derive(Clone, Debug, Default)]
pub enum Sink {
    #[default]
    Off,
    Stdout,
    Memory(Arc<Mutex<Vec<String>>>),
}

/// The per-sandbox writer: namespace, sink, and whether the next request is the cold one.
#[derive(Debug)]
pub struct Metrics {
    namespace: String,
    sink: Sink,
    cold: AtomicBool,
}

impl Metrics {
    pub fn new(namespace: impl Into<String>, sink: Sink) -> Self {
        Metrics { namespace: namespace.into(), sink, cold: AtomicBool::new(true) }
    }

    /// Writes the line of one request of `function` (nothing if it counted nothing).
    pub fn emit(&self, function: &str, mut counts: Counts) {
        if self.cold.swap(false, Ordering::Relaxed) {
            counts.add(Metric::ColdStart, 1);
        }
        let line = match &self.sink {
            Sink::Off => return,
            _ => match render(&self.namespace, function, &counts, chrono::Utc::now().timestamp_millis()) {
                Some(line) => line,
                None => return,
            },
        };
        match &self.sink {
            Sink::Off => {}
            Sink::Stdout => println!("{line}"),
            Sink::Memory(lines) => lines.lock().unwrap_or_else(|e| e.into_inner()).push(line),
        }
    }
}

/// One EMF document: the non-zero counts under the dimension `Function`.
pub fn render(namespace: &str, function: &str, counts: &Counts, timestamp_ms: i64) -> Option<String> {
    let present: Vec<Metric> = Metric::ALL.into_iter().filter(|m| counts.get(*m) > 0).collect();
    if present.is_empty() {
        return None;
    }
    let definitions: Vec<serde_json::Value> =
        present.iter().map(|m| serde_json::json!({"Name": m.name(), "Unit": "Count"})).collect();
    let mut doc = serde_json::Map::new();
    doc.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [["Function"]], "Metrics": definitions}],
        }),
    );
    doc.insert("Function".into(), function.into());
    for m in present {
        doc.insert(m.name().into(), counts.get(m).into());
    }
    Some(serde_json::Value::Object(doc).to_string())
}

/// Counts every DynamoDB call, repeated attempt and throttling answer, whichever store
/// function made it: an SDK interceptor sees them all, retries included.
#[derive(Debug, Clone, Copy, Default)]
pub struct DynamoDbMetrics;

impl Intercept for DynamoDbMetrics {
    fn name(&self) -> &'static str {
        "emf-metrics"
    }

    fn read_before_execution(
        &self,
        _ctx: &aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        count(Metric::DynamoDbCalls);
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Every attempt passes here, the first one too: retries are attempts minus calls.
        let _ = COUNTS.try_with(|c| {
            let mut c = c.borrow_mut();
            c.attempts = c.attempts.saturating_add(1);
        });
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        ctx: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = ctx.response();
        if is_throttle(response.status().as_u16(), response.body().bytes().unwrap_or_default()) {
            count(Metric::DynamoDbThrottles);
        }
        Ok(())
    }
}

/// DynamoDB's throttling answers: on-demand tables past their current capacity or a hot
/// partition (`ThrottlingException`, `ProvisionedThroughputExceededException`), account limits
/// (`RequestLimitExceeded`), and a transaction item cancelled as `ThrottlingError`.
pub fn is_throttle(status: u16, body: &[u8]) -> bool {
    const CODES: [&[u8]; 4] =
        [b"ThrottlingException", b"ProvisionedThroughputExceeded", b"RequestLimitExceeded", b"ThrottlingError"];
    status == 400 && CODES.iter().any(|code| body.windows(code.len()).any(|w| w == *code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_holds_only_what_was_counted_under_the_function_dimension() {
        let mut counts = Counts::default();
        counts.add(Metric::LoginFailed, 1);
        counts.add(Metric::DynamoDbCalls, 2);
        let line = render("MobileBackend/prod", "login", &counts, 1_700_000_000_000).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
        let cw = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(cw["Namespace"], "MobileBackend/prod");
        assert_eq!(cw["Dimensions"], serde_json::json!([["Function"]]));
        let names: Vec<&str> = cw["Metrics"].as_array().unwrap().iter().map(|m| m["Name"].as_str().unwrap()).collect();
        assert_eq!(names, ["LoginFailed", "DynamoDbCalls"]);
        assert!(cw["Metrics"].as_array().unwrap().iter().all(|m| m["Unit"] == "Count"));
        assert_eq!(doc["Function"], "login");
        assert_eq!(doc["LoginFailed"], 1);
        assert_eq!(doc["DynamoDbCalls"], 2);
        assert!(doc.get("LoginOk").is_none());
        assert!(!line.contains('\n'), "one document per line");
    }

    #[test]
    fn nothing_counted_writes_nothing() {
        assert_eq!(render("n", "f", &Counts::default(), 0), None);
    }

    #[test]
    fn the_first_request_of_a_sandbox_is_its_cold_start() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let metrics = Metrics::new("n", Sink::Memory(lines.clone()));
        metrics.emit("logout", Counts::default());
        metrics.emit("logout", Counts::default());
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1, "the warm request counted nothing: {lines:?}");
        assert!(lines[0].contains("\"ColdStart\":1"));
    }

    #[tokio::test]
    async fn counts_belong_to_the_request_that_made_them() {
        let (_, a) = scope(async {
            count(Metric::LoginOk);
            let (_, inner) = scope(async { count(Metric::LoginFailed) }).await;
            assert_eq!(inner.get(Metric::LoginFailed), 1);
            count(Metric::LoginOk);
        })
        .await;
        assert_eq!(a.get(Metric::LoginOk), 2);
        assert_eq!(a.get(Metric::LoginFailed), 0);
        count(Metric::LoginOk); // outside any request: ignored, no panic
    }

    #[test]
    fn throttling_answers_are_told_from_other_failures() {
        assert!(is_throttle(400, br#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException"}"#));
        assert!(is_throttle(
            400,
            br#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"}"#
        ));
        assert!(is_throttle(400, br#"{"CancellationReasons":[{"Code":"ThrottlingError"}]}"#));
        assert!(!is_throttle(400, br#"{"__type":"...#ConditionalCheckFailedException"}"#));
        assert!(!is_throttle(200, br#"{"Item":{"s":{"S":"ThrottlingException"}}}"#));
    }
}
