//! From a `lambda_http::Request` to a response: route, run the handler, map the result once.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};

use super::envelope::{failure, success};
use super::request::ApiRequest;
use super::routes::{self, Function, Handler, Route};
use crate::{handlers, ApiError, ApiResult, Context};

/// The code of one Lambda function: the handlers of its own routes and nothing else. Its
/// `main` names the type (`service::<handlers::Login>`), so its binary references only these
/// handlers and the linker drops every other function's code, validators and store calls
/// (without LTO). The types live in `handlers`, one line each.
pub trait Endpoints: Send + Sync + 'static {
    const FUNCTION: Function;
    /// Runs `handler`, one of `FUNCTION`'s routes other than `OPTIONS`.
    fn call(ctx: &Context, handler: Handler, req: ApiRequest) -> impl Future<Output = ApiResult> + Send;
}

/// The Lambda service of one function: the context is built once and shared by every request.
pub fn service<E: Endpoints>(
    ctx: Context,
) -> impl lambda_http::Service<Request, Response = Response<Body>, Error = Infallible, Future: Send> {
    let ctx = Arc::new(ctx);
    service_fn(move |req: Request| {
        let ctx = Arc::clone(&ctx);
        async move { Ok(respond_as::<E>(&ctx, req).await) }
    })
}

/// Answers one request as `function` would, whichever it is: the local server and the tests
/// serve every function from one process. A Lambda never calls this (it would link them all).
pub async fn respond(ctx: &Context, function: Function, req: Request) -> Response<Body> {
    use crate::handlers as h;
    match function {
        Function::Register => respond_as::<h::Register>(ctx, req).await,
        Function::Login => respond_as::<h::Login>(ctx, req).await,
        Function::Logout => respond_as::<h::Logout>(ctx, req).await,
        Function::UserInfo => respond_as::<h::UserInfo>(ctx, req).await,
        Function::UserIcon => respond_as::<h::UserIcon>(ctx, req).await,
        Function::UserPassword => respond_as::<h::UserPassword>(ctx, req).await,
        Function::Rooms => respond_as::<h::Rooms>(ctx, req).await,
        #[cfg(feature = "sms")]
        Function::PhoneCaptcha => respond_as::<h::PhoneCaptcha>(ctx, req).await,
        Function::PhoneLogin => respond_as::<h::PhoneLogin>(ctx, req).await,
        #[cfg(feature = "sns-providers")]
        Function::SnsLogin => respond_as::<h::SnsLogin>(ctx, req).await,
        // Built without the SNS or provider client: this process does not serve that function.
        #[allow(unreachable_patterns)]
        _ => failure(&ApiError::NotFound("route"), &ctx.config.cors_allow_origin),
    }
}

/// Answers one request as the function `E`.
pub async fn respond_as<E: Endpoints>(ctx: &Context, req: Request) -> Response<Body> {
    let origin = &ctx.config.cors_allow_origin;
    match handle::<E>(ctx, req).await {
        Ok(resp) => success(resp, origin),
        Err(err) => {
            if err.status() >= 500 {
                tracing::error!(error = %err, status = err.status(), "request failed");
            } else {
                tracing::info!(error = %err, status = err.status(), "request refused");
            }
            failure(&err, origin)
        }
    }
}

async fn handle<E: Endpoints>(ctx: &Context, req: Request) -> ApiResult {
    let route = route_of(E::FUNCTION, &req)?;
    let req = ApiRequest::from_lambda(req, route.path.to_owned());
    if req.body.len() > ctx.config.max_body_bytes {
        return Err(ApiError::BodyTooLarge(ctx.config.max_body_bytes));
    }
    match route.handler {
        Handler::Options => Ok(handlers::options::handle(&req)),
        handler => E::call(ctx, handler, req).await,
    }
}

/// API Gateway names the matched resource in the request context; route on that, not on the
/// raw URI, which carries the stage (`/prod/users`) on REST APIs. Events without a resource
/// (hand-written ones) fall back to matching the path.
fn route_of(function: Function, req: &Request) -> Result<&'static Route, ApiError> {
    let from_context = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(c)) => c.resource_path.clone(),
        _ => None,
    };
    let resource = match from_context {
        Some(resource) => routes::normalise(&resource).to_owned(),
        None => {
            let raw = req.raw_http_path();
            let path = if raw.is_empty() { req.uri().path() } else { raw };
            routes::match_path(path).ok_or(ApiError::NotFound("route"))?.0.to_owned()
        }
    };
    match routes::find(req.method(), &resource) {
        Some(route) if route.function == function => Ok(route),
        // Deployed, API Gateway only sends a function its own routes; locally a mis-wired call
        // must not run another function's code.
        Some(_) => Err(ApiError::NotFound("route")),
        None if routes::allowed_methods(&resource).is_empty() => Err(ApiError::NotFound("route")),
        None => Err(ApiError::MethodNotAllowed),
    }
}
