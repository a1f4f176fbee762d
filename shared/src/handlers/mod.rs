//! One module per endpoint. Each takes the shared context and a request and returns a result;
//! validation comes first (no store round trip for bad input), then authentication, then the
//! store.

#[cfg(all(feature = "sns-providers", feature = "avatar-objects"))]
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
pub mod token_refresh;
#[cfg(feature = "avatars")]
pub mod user_icon;
pub mod user_info;
pub mod user_password;

use crate::domain::User;
use crate::http::routes::{Function, Handler};
use crate::http::{ApiRequest, ApiResponse, Endpoints};
use crate::{ApiError, ApiResult, Context};

/// `pub struct Name;` implementing [`Endpoints`] for `Function::Name`: which handler answers
/// which of its routes (`OPTIONS` is answered before, the same way for every function).
macro_rules! endpoints {
    ($(#[$attr:meta])* $function:ident { $($handler:ident => $code:path),+ $(,)? }) => {
        $(#[$attr])*
        pub struct $function;
        $(#[$attr])*
        impl Endpoints for $function {
            const FUNCTION: Function = Function::$function;
            async fn call(ctx: &Context, handler: Handler, req: ApiRequest) -> ApiResult {
                match handler {
                    $(Handler::$handler => $code(ctx, req).await,)+
                    // `route_of` hands a function its own routes only.
                    _ => Err(ApiError::NoRoute),
                }
            }
        }
    };
}

// One line per function; a new function adds its line here and its arm in `http::respond`.
endpoints!(Register { Register => register::handle });
endpoints!(Login { Login => login::handle });
endpoints!(Logout { Logout => logout::handle });
endpoints!(UserInfo { UserInfo => user_info::handle, UserGet => user_info::get });
endpoints!(#[cfg(feature = "avatars")] UserIcon { UserIcon => user_icon::handle });
endpoints!(UserPassword { UserPassword => user_password::handle });
endpoints!(Rooms {
    RoomsList => rooms::list,
    RoomGet => rooms::get,
    RoomCreate => rooms::create,
    RoomUpdate => rooms::update,
    RoomDelete => rooms::delete,
});
endpoints!(#[cfg(feature = "sms")] PhoneCaptcha { PhoneCaptcha => phone_captcha::handle });
endpoints!(PhoneLogin { PhoneLogin => phone_login::handle });
endpoints!(#[cfg(feature = "sns-providers")] SnsLogin { SnsLogin => sns_login::handle });
endpoints!(PhoneBind { PhoneBind => phone_bind::handle });
endpoints!(PasswordReset { PasswordReset => password_reset::handle });
endpoints!(#[cfg(all(feature = "sns-providers", feature = "avatar-objects"))] AccountDelete { AccountDelete => account_delete::handle });
endpoints!(TokenRefresh { TokenRefresh => token_refresh::handle });

/// The answer of an endpoint that returns an account with the caller's own token (endpoints
/// that issue a token answer with `session::Issued::response`, which adds the refresh token).
pub fn user_response(msg: &'static str, user: &User, token: &str) -> ApiResponse {
    ApiResponse::ok(msg, user.to_fields(token))
}
