//! From a `lambda_http::Request` to a response: route, run the handler, map the result once.

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};

use super::envelope::{failure, success};
use super::request::ApiRequest;
use super::routes::{self, Function, Handler, Route};
use crate::{handlers, ApiError, ApiResult, Context};

/// The Lambda service of one function: the context is built once and shared by every request.
pub fn service(
    ctx: Context,
    function: Function,
) -> impl lambda_http::Service<Request, Response = Response<Body>, Error = Infallible, Future: Send> {
    let ctx = Arc::new(ctx);
    service_fn(move |req: Request| {
        let ctx = Arc::clone(&ctx);
        async move { Ok(respond(&ctx, function, req).await) }
    })
}

/// Answers one request as `function` would. The local server calls this too.
pub async fn respond(ctx: &Context, function: Function, req: Request) -> Response<Body> {
    let origin = &ctx.config.cors_allow_origin;
    match handle(ctx, function, req).await {
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

async fn handle(ctx: &Context, function: Function, req: Request) -> ApiResult {
    let route = route_of(function, &req)?;
    let req = ApiRequest::from_lambda(req, route.path.to_owned());
    if req.body.len() > ctx.config.max_body_bytes {
        return Err(ApiError::BodyTooLarge(ctx.config.max_body_bytes));
    }
    match route.handler {
        Handler::Options => handlers::options::handle(&req),
        Handler::Register => handlers::register::handle(ctx, req).await,
        Handler::Login => handlers::login::handle(ctx, req).await,
        Handler::Logout => handlers::logout::handle(ctx, req).await,
        Handler::UserInfo => handlers::user_info::handle(ctx, req).await,
        Handler::UserIcon => handlers::user_icon::handle(ctx, req).await,
        Handler::UserPassword => handlers::user_password::handle(ctx, req).await,
        Handler::RoomsList => handlers::rooms::list(ctx, req).await,
        Handler::RoomGet => handlers::rooms::get(ctx, req).await,
        Handler::RoomCreate => handlers::rooms::create(ctx, req).await,
        Handler::RoomUpdate => handlers::rooms::update(ctx, req).await,
        Handler::RoomDelete => handlers::rooms::delete(ctx, req).await,
        #[cfg(feature = "sms")]
        Handler::PhoneCaptcha => handlers::phone_captcha::handle(ctx, req).await,
        // Only the phone_captcha function, built with the SNS client, is ever routed here.
        #[cfg(not(feature = "sms"))]
        Handler::PhoneCaptcha => Err(ApiError::NoRoute),
        Handler::PhoneLogin => handlers::phone_login::handle(ctx, req).await,
        Handler::TokenRefresh => handlers::token_refresh::handle(ctx, req).await,
        #[cfg(feature = "sns-providers")]
        Handler::SnsLogin => handlers::sns_login::handle(ctx, req).await,
        // Built without the provider client: this is another function, and `route_of` has
        // already refused a route that is not its own.
        #[cfg(not(feature = "sns-providers"))]
        Handler::SnsLogin => Err(ApiError::NoRoute),
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
