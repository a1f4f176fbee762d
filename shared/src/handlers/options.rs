//! `OPTIONS` on every path: the methods served there, and what browsers need for CORS.

use crate::http::routes::allowed_methods;
use crate::http::{ApiRequest, ApiResponse};
use crate::ApiResult;

/// On a path with `{pk}` the pk is checked as every other method checks it, so a preflight never
/// blesses a request the server will refuse.
pub fn handle(req: &ApiRequest) -> ApiResult {
    if req.resource.contains("{pk}") {
        req.path_pk()?;
    }
    let methods = allowed_methods(&req.resource).join(", ");
    let mut resp = ApiResponse::no_content();
    resp.headers = vec![
        ("allow", methods.clone()),
        ("access-control-allow-methods", methods),
        ("access-control-allow-headers", "Content-Type, Authorization".into()),
        ("access-control-max-age", "86400".into()),
    ];
    Ok(resp)
}
