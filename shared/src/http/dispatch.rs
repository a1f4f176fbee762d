//! From a `lambda_http::Request` to a response: route, run the handler, map the result once.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};
use tracing::Instrument;

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
    // Boxed: one future type for every function keeps the callers' futures shallow (rustc's
    // layout depth limit), and this path serves only the local server and the tests.
    let answer: Pin<Box<dyn Future<Output = Response<Body>> + Send + '_>> = match function {
        Function::Register => Box::pin(respond_as::<h::Register>(ctx, req)),
        Function::Login => Box::pin(respond_as::<h::Login>(ctx, req)),
        Function::Logout => Box::pin(respond_as::<h::Logout>(ctx, req)),
        Function::UserInfo => Box::pin(respond_as::<h::UserInfo>(ctx, req)),
        #[cfg(feature = "avatars")]
        Function::UserIcon => Box::pin(respond_as::<h::UserIcon>(ctx, req)),
        Function::UserPassword => Box::pin(respond_as::<h::UserPassword>(ctx, req)),
        Function::Rooms => Box::pin(respond_as::<h::Rooms>(ctx, req)),
        #[cfg(feature = "sms")]
        Function::PhoneCaptcha => Box::pin(respond_as::<h::PhoneCaptcha>(ctx, req)),
        Function::PhoneLogin => Box::pin(respond_as::<h::PhoneLogin>(ctx, req)),
        #[cfg(feature = "sns-providers")]
        Function::SnsLogin => Box::pin(respond_as::<h::SnsLogin>(ctx, req)),
        Function::PhoneBind => Box::pin(respond_as::<h::PhoneBind>(ctx, req)),
        Function::PasswordReset => Box::pin(respond_as::<h::PasswordReset>(ctx, req)),
        #[cfg(all(feature = "sns-providers", feature = "avatar-objects"))]
        Function::AccountDelete => Box::pin(respond_as::<h::AccountDelete>(ctx, req)),
        Function::TokenRefresh => Box::pin(respond_as::<h::TokenRefresh>(ctx, req)),
        // Built without the SNS, provider or S3 client: this process does not serve that function.
        #[allow(unreachable_patterns)]
        _ => return failure(&ApiError::NoRoute, &ctx.config.cors_allow_origin),
    };
    answer.await
}

/// Answers one request as the function `E`.
pub async fn respond_as<E: Endpoints>(ctx: &Context, req: Request) -> Response<Body> {
    // lambda_runtime's own span carries the request id only while RUST_LOG is info or more:
    // this one, at error level, keeps it on every line whatever the level. (The local server
    // has no Lambda context and opens the same span itself.)
    let span = match req.lambda_context_ref() {
        Some(lambda) => tracing::error_span!("request", requestId = %lambda.request_id),
        None => tracing::Span::none(),
    };
    respond_in::<E>(ctx, req).instrument(span).await
}

async fn respond_in<E: Endpoints>(ctx: &Context, req: Request) -> Response<Body> {
    let origin = &ctx.config.cors_allow_origin;
    // The last line of deadlines.rs: whatever a handler is waiting for, the caller gets an
    // answer in time.
    let deadline = ctx.config.request_deadline;
    // Routed first, so that every failure line names the handler (the rooms function has five).
    let route = route_of(E::FUNCTION, &req);
    let handler = route.as_ref().ok().map(|r| r.handler);
    let bounded = async {
        let route = route?;
        tokio::time::timeout(deadline, handle::<E>(ctx, route, req))
            .await
            .unwrap_or_else(|_| Err(ApiError::Unavailable(format!("request deadline of {deadline:?} passed"))))
    };
    let (result, counts) = crate::metrics::scope(bounded).await;
    ctx.metrics.emit(E::FUNCTION.crate_name(), counts);
    match result {
        Ok(resp) => success(resp, origin),
        Err(err) => {
            let function = E::FUNCTION.crate_name();
            if err.status() >= 500 {
                tracing::error!(function, ?handler, error = %err, status = err.status(), "request failed");
            } else {
                tracing::info!(function, ?handler, error = %err, status = err.status(), "request refused");
            }
            failure(&err, origin)
        }
    }
}

async fn handle<E: Endpoints>(ctx: &Context, route: &'static Route, req: Request) -> ApiResult {
    let req = ApiRequest::from_lambda(req, route.path.to_owned());
    // Avatar uploads are up to 4 MiB: their handler holds each of its three forms to its own
    // limit (the JSON one to this one).
    if req.body.len() > ctx.config.max_body_bytes && route.handler != Handler::UserIcon {
        return Err(ApiError::BodyTooLarge(ctx.config.max_body_bytes));
    }
    let result = match route.handler {
        Handler::Options => handlers::options::handle(&req),
        // Boxed: a handler's future nests the store's and the SDK's, and unboxed the whole
        // request's layout exceeds rustc's query depth limit when a function crate is built
        // alone, as `sam build` builds it (login, register, user_info... did; scripts/test.sh
        // builds each alone). Here, once, it covers every function: one allocation per request.
        handler => Box::pin(E::call(ctx, handler, req)).await,
    };
    crate::metrics::count_outcome(route.handler, &result);
    result
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
            routes::match_path(path).ok_or(ApiError::NoRoute)?.0.to_owned()
        }
    };
    match routes::find(req.method(), &resource) {
        Some(route) if route.function == function => Ok(route),
        // Deployed, API Gateway only sends a function its own routes and answers any other path
        // or method itself, with the same 404; locally a mis-wired call must not run another
        // function's code.
        _ => Err(ApiError::NoRoute),
    }
}
