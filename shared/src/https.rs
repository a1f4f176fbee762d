//! The outbound HTTPS client of the calls that are not AWS (the third-party login providers,
//! the legacy server's login of a lazy migration, Aliyun SMS): hyper's pooled client over
//! rustls with the ring provider, the same stack the AWS SDK uses, so it adds next to nothing
//! to the binary. It trusts the providers' roots only (`tls::PROVIDER_ROOTS`, compiled in: no
//! system store parsed at cold start). Every call is bounded by one deadline, connect to last
//! byte. Cargo feature `https-client`.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json; charset=utf-8";

/// Token checks, logins and SMS sends answer in well under a kilobyte; anything near this is not one.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What a provider answered: status and the whole body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    pub fn new(timeout: Duration) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports TLS 1.2 and 1.3")
            .with_root_certificates(crate::tls::provider_roots())
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        // Plain http only ever reaches a provider when configured so (local stand-ins); the
        // template only accepts https base URLs.
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // A warm sandbox is frozen between invocations while providers close idle keep-alive
        // connections (often after 30-60 s); a login must not fail on one of those, so idle
        // connections are dropped well before.
        let inner = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(15))
            .build(https);
        HttpClient { inner, timeout }
    }

    pub async fn get(&self, url: &str) -> Result<Answer, String> {
        self.send(Method::GET, url, None).await
    }

    /// POST with an `application/x-www-form-urlencoded` body.
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<Answer, String> {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        self.send(Method::POST, url, Some((FORM, body))).await
    }

    /// POST with a JSON body (the legacy server's login).
    pub async fn post_json(&self, url: &str, body: &serde_json::Value) -> Result<Answer, String> {
        self.send(Method::POST, url, Some((JSON, body.to_string()))).await
    }

    async fn send(&self, method: Method, url: &str, body: Option<(&'static str, String)>) -> Result<Answer, String> {
        let uri: Uri = url.parse().map_err(|e| format!("bad provider URL: {e}"))?;
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, HeaderValue::from_static(concat!("mobile-backend/", env!("CARGO_PKG_VERSION"))));
        let text = match body {
            Some((content_type, text)) => {
                builder = builder.header(CONTENT_TYPE, HeaderValue::from_static(content_type));
                text
            }
            None => String::new(),
        };
        let request = builder.body(Full::new(Bytes::from(text))).map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self.inner.request(request).await.map_err(|e| chain("request", &e))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok(Answer { status, body })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("no complete answer within {} ms", self.timeout.as_millis()))?
    }
}

/// hyper's errors say little at the top ("client error (Connect)"); the cause is further down.
/// None of them carries the URL, which holds the access token.
fn chain(what: &str, err: &dyn std::error::Error) -> String {
    let mut text = format!("{what}: {err}");
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
