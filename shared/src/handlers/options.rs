//! `OPTIONS` on every path: the methods served there, and what browsers need for CORS.

use crate::http::routes::allowed_methods;
use crate::http::{ApiRequest, ApiResponse};

pub fn handle(req: &ApiRequest) -> ApiResponse {
    let methods = allowed_methods(&req.resource).join(", ");
    let mut resp = ApiResponse::no_content();
    resp.headers = vec![
        ("allow", methods.clone()),
        ("access-control-allow-methods", methods),
        ("access-control-allow-headers", "Content-Type, Authorization".into()),
        ("access-control-max-age", "86400".into()),
    ];
    resp
}
