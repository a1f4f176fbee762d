//! One module per endpoint. Each takes the shared context and a request and returns a result;
//! validation comes first (no store round trip for bad input), then authentication, then the
//! store.

pub mod login;
pub mod logout;
pub mod options;
#[cfg(feature = "sms")]
pub mod phone_captcha;
pub mod phone_login;
pub mod register;
pub mod rooms;
#[cfg(feature = "sns-providers")]
pub mod sns_login;
pub mod token_refresh;
pub mod user_icon;
pub mod user_info;
pub mod user_password;

use crate::domain::User;
use crate::http::ApiResponse;

/// The answer of an endpoint that returns an account with the caller's own token (endpoints
/// that issue a token answer with `session::Issued::response`, which adds the refresh token).
pub fn user_response(msg: &'static str, user: &User, token: &str) -> ApiResponse {
    ApiResponse::ok(msg, user.to_fields(token))
}
