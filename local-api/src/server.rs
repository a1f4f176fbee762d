//! The local API server. Each HTTP request becomes the API Gateway REST proxy event that the
//! deployed API would send (resource, path parameters, decoded query, source IP), is turned
//! into a `lambda_http::Request` by `lambda_http` itself, and is answered by the same
//! `shared::http::respond` the Lambda functions run.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use shared::http::envelope::failure;
use shared::http::routes;
use shared::{ApiError, Context};
use tokio::net::TcpListener;
use tracing::Instrument;

/// API Gateway's own payload limit; the handlers enforce the API's smaller one.
const GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

pub type HttpResponse = hyper::Response<Full<Bytes>>;

/// Serves until the listener fails; one task per connection.
pub async fn serve(ctx: Arc<Context>, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let ctx = Arc::clone(&ctx);
                async move { Ok::<_, Infallible>(answer(&ctx, req, peer).await) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn answer(ctx: &Context, req: hyper::Request<Incoming>, peer: SocketAddr) -> HttpResponse {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, GATEWAY_MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return convert(failure(&ApiError::BodyTooLarge(ctx.config.max_body_bytes), &ctx.config.cors_allow_origin))
        }
    };
    let path = parts.uri.path();
    // An unknown method gets the 404 of an unknown path, not a 405: API Gateway (REST) answers
    // both with its MISSING_AUTHENTICATION_TOKEN response, and apps must meet one behaviour.
    let found = routes::match_path(path)
        .and_then(|(resource, pk)| Some((resource, pk, routes::find(&parts.method, resource)?)));
    let Some((resource, pk, route)) = found else {
        return convert(failure(&ApiError::NoRoute, &ctx.config.cors_allow_origin));
    };
    // API Gateway's request id, as the deployed function sees it; the span puts it on every
    // log line of the request, as lambda_runtime's span does in Lambda.
    let request_id = uuid::Uuid::new_v4().to_string();
    let span = tracing::error_span!("request", requestId = %request_id);
    let event = proxy_event(&parts, resource, pk, &body, peer, &request_id);
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(request) => request,
        Err(e) => {
            return convert(failure(&ApiError::Unavailable(format!("event: {e}")), &ctx.config.cors_allow_origin))
        }
    };
    convert(shared::http::respond(ctx, route.function, request).instrument(span).await)
}

/// The REST API (v1) proxy event for this request, as API Gateway would build it.
fn proxy_event(
    parts: &hyper::http::request::Parts,
    resource: &str,
    pk: Option<String>,
    body: &Bytes,
    peer: SocketAddr,
    request_id: &str,
) -> Value {
    let mut headers = Map::new();
    let mut multi_headers = Map::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers.insert(name.as_str().to_owned(), Value::String(value.clone()));
        let list = multi_headers.entry(name.as_str().to_owned()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.push(Value::String(value));
        }
    }
    let mut query = Map::new();
    let mut multi_query = Map::new();
    for (k, v) in form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
        query.insert(k.to_string(), Value::String(v.to_string()));
        let list = multi_query.entry(k.to_string()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.push(Value::String(v.into_owned()));
        }
    }
    let path_parameters = pk.map(|pk| {
        let decoded = percent_encoding::percent_decode_str(&pk).decode_utf8_lossy().into_owned();
        json!({ "pk": decoded })
    });
    // As API Gateway: the binary media types base64-encoded, whatever the bytes; other bodies as
    // text (bytes that are not UTF-8 too, which API Gateway would mangle and this server keeps).
    let media = parts.headers.get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = media.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let binary = routes::BINARY_MEDIA_TYPES.contains(&media.as_str());
    let (body, is_base64) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (Value::Null, false),
        Ok(text) if !binary => (Value::String(text.to_owned()), false),
        _ => {
            use base64::Engine;
            (Value::String(base64::engine::general_purpose::STANDARD.encode(body)), true)
        }
    };
    let nullable = |m: Map<String, Value>| if m.is_empty() { Value::Null } else { Value::Object(m) };
    json!({
        "resource": resource,
        "path": parts.uri.path(),
        "httpMethod": parts.method.as_str(),
        "headers": nullable(headers),
        "multiValueHeaders": nullable(multi_headers),
        "queryStringParameters": nullable(query),
        "multiValueQueryStringParameters": nullable(multi_query),
        "pathParameters": path_parameters,
        "stageVariables": null,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "stage": "local",
            "resourcePath": resource,
            "httpMethod": parts.method.as_str(),
            "path": format!("/local{}", parts.uri.path()),
            "requestId": request_id,
            "protocol": "HTTP/1.1",
            "identity": { "sourceIp": source_ip(parts, peer) },
        },
        "body": body,
        "isBase64Encoded": is_base64,
    })
}

/// The caller's address. API Gateway takes it from the connection; this server, which only
/// listens on 127.0.0.1, takes the first address of `X-Forwarded-For` when there is a valid one,
/// so that tests (and a developer with curl) can play clients on many addresses. Never deployed.
fn source_ip(parts: &hyper::http::request::Parts, peer: SocketAddr) -> String {
    parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|first| first.trim().parse::<std::net::IpAddr>().ok())
        .unwrap_or_else(|| peer.ip())
        .to_string()
}

fn convert(resp: lambda_http::Response<lambda_http::Body>) -> HttpResponse {
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        lambda_http::Body::Text(s) => Bytes::from(s),
        lambda_http::Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}
