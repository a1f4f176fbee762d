//! What a handler sees of a request, independent of how it arrived (API Gateway event, sample
//! event file or the local server, which all go through `lambda_http`'s own conversion).

use lambda_http::http::{header, HeaderMap, Method};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};

use crate::validate::Fields;
use crate::ApiError;

#[derive(Debug)]
pub struct ApiRequest {
    pub method: Method,
    /// The API Gateway resource (`/users/{pk}`), without trailing slash.
    pub resource: String,
    pub path_params: lambda_http::aws_lambda_events::query_map::QueryMap,
    pub query: lambda_http::aws_lambda_events::query_map::QueryMap,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub source_ip: Option<String>,
}

impl ApiRequest {
    pub fn from_lambda(req: Request, resource: String) -> Self {
        let source_ip = match req.request_context_ref() {
            Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.clone(),
            _ => None,
        };
        let path_params = req.path_parameters();
        let query = req.query_string_parameters();
        let (parts, body) = req.into_parts();
        let body = match body {
            Body::Empty => Vec::new(),
            Body::Text(s) => s.into_bytes(),
            Body::Binary(b) => b,
            _ => Vec::new(),
        };
        ApiRequest { method: parts.method, resource, path_params, query, headers: parts.headers, body, source_ip }
    }

    /// The body as a JSON object; an empty body is an empty object, so that "missing field"
    /// names the field instead of complaining about the body.
    pub fn fields(&self) -> Result<Fields, ApiError> {
        Fields::parse(&self.body)
    }

    /// The caller's address as API Gateway saw it, what per-client limits are keyed by.
    pub fn source_ip(&self) -> &str {
        self.source_ip.as_deref().unwrap_or("unknown")
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.first(name)
    }

    /// A numeric `{pk}` path segment.
    pub fn path_pk(&self) -> Result<u64, ApiError> {
        let raw = self.path_params.first("pk").ok_or(ApiError::MissingField { field: "pk" })?;
        crate::validate::parse_pk(raw)
    }

    /// The caller's token, from `Authorization: Token|Bearer <t>`, `?token=` or the body's `token`
    /// field (the seed's only place for it). A request may carry it in several places, but they
    /// must agree: a malformed or different token anywhere is refused, never silently ignored.
    pub fn token(&self, body: Option<&Fields>) -> Result<Option<String>, ApiError> {
        let header = match self.headers.get(header::AUTHORIZATION) {
            Some(value) => {
                let value = value.to_str().map_err(|_| ApiError::Unauthorized)?;
                let token = value
                    .strip_prefix("Token ")
                    .or_else(|| value.strip_prefix("Bearer "))
                    .ok_or(ApiError::Unauthorized)?;
                Some(token.trim().to_owned())
            }
            None => None,
        };
        let query = self.query_param("token").map(str::to_owned);
        let body = match body {
            Some(fields) => fields.optional_text("token", 64)?,
            None => None,
        };
        let mut found: Option<String> = None;
        for token in [header, query, body].into_iter().flatten() {
            match &found {
                Some(seen) if *seen != token => return Err(ApiError::Unauthorized),
                _ => found = Some(token),
            }
        }
        Ok(found)
    }
}
