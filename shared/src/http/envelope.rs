//! The wire format every endpoint shares: `{"status","code","msg", ...}` with `code` equal to
//! the HTTP status, and CORS headers on every answer.

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde_json::{Map, Value};

use crate::ApiError;

/// A success answer: status, message and the resource's fields.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub msg: &'static str,
    pub fields: Map<String, Value>,
    /// Extra headers, e.g. `Allow` on OPTIONS.
    pub headers: Vec<(&'static str, String)>,
}

impl ApiResponse {
    pub fn ok(msg: &'static str, fields: Map<String, Value>) -> Self {
        ApiResponse { status: 200, msg, fields, headers: Vec::new() }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// DELETE success is `204` with an empty body (seed).
    pub fn no_content() -> Self {
        ApiResponse { status: 204, msg: "", fields: Map::new(), headers: Vec::new() }
    }
}

pub fn success(resp: ApiResponse, cors_origin: &str) -> Response<Body> {
    let status = resp.status;
    let body = if status == 204 {
        Body::Empty
    } else {
        let mut obj = Map::with_capacity(resp.fields.len() + 3);
        obj.insert("status".into(), "SUCCESS".into());
        obj.insert("code".into(), status.to_string().into());
        obj.insert("msg".into(), resp.msg.into());
        obj.extend(resp.fields);
        Body::Text(Value::Object(obj).to_string())
    };
    let mut response = build(status, body, cors_origin);
    for (name, value) in resp.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

pub fn failure(err: &ApiError, cors_origin: &str) -> Response<Body> {
    let status = err.status();
    let mut obj = Map::with_capacity(5);
    obj.insert("status".into(), "FAIL".into());
    obj.insert("code".into(), status.to_string().into());
    obj.insert("msg".into(), err.msg().into());
    obj.insert("error".into(), err.id().into_owned().into());
    if let Some(field) = err.field() {
        obj.insert("field".into(), field.into());
    }
    if let Some(secs) = err.retry_after() {
        obj.insert("retry_after".into(), secs.to_string().into());
    }
    let mut response = build(status, Body::Text(Value::Object(obj).to_string()), cors_origin);
    if let Some(secs) = err.retry_after() {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn build(status: u16, body: Body, cors_origin: &str) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if status != 204 {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    }
    if let Ok(origin) = HeaderValue::from_str(cors_origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    response
}
