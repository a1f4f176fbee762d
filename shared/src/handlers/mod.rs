//! One module per endpoint. Each takes the shared context and a request and returns a result;
//! validation comes first (no store round trip for bad input), then authentication, then the
//! store.

pub mod account_delete;
pub mod login;
pub mod logout;
pub mod options;
pub mod password_reset;
pub mod phone_bind;
#[cfg(feature = "sms")]
pub mod phone_captcha;
pub mod phone_login;
pub mod register;
pub mod rooms;
#[cfg(feature = "sns-providers")]
pub mod sns_login;
pub mod user_icon;
pub mod user_info;
pub mod user_password;

use crate::domain::User;
use crate::http::ApiResponse;

/// The answer of every endpoint that returns an account: user fields plus the token.
pub fn user_response(msg: &'static str, user: &User, token: &str) -> ApiResponse {
    ApiResponse::ok(msg, user.to_fields(token))
}
