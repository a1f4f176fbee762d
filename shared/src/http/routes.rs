//! The route table: which function answers which method and path. `template.yaml`'s Api events
//! and the local server are both checked against this one list (tests/routes.rs).

use lambda_http::http::Method;

/// One Lambda function, named like its crate under `functions/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Function {
    Register,
    Login,
    Logout,
    UserInfo,
    UserIcon,
    UserPassword,
    Rooms,
    PhoneCaptcha,
    PhoneLogin,
    SnsLogin,
    PhoneBind,
    PasswordReset,
    AccountDelete,
    TokenRefresh,
}

impl Function {
    pub const ALL: &'static [Function] = &[
        Function::Register,
        Function::Login,
        Function::Logout,
        Function::UserInfo,
        Function::UserIcon,
        Function::UserPassword,
        Function::Rooms,
        Function::PhoneCaptcha,
        Function::PhoneLogin,
        Function::SnsLogin,
        Function::PhoneBind,
        Function::PasswordReset,
        Function::AccountDelete,
        Function::TokenRefresh,
    ];

    /// The crate directory under `functions/` (and the template's `CodeUri`).
    pub fn crate_name(self) -> &'static str {
        match self {
            Function::Register => "register",
            Function::Login => "login",
            Function::Logout => "logout",
            Function::UserInfo => "user_info",
            Function::UserIcon => "user_icon",
            Function::UserPassword => "user_password",
            Function::Rooms => "rooms",
            Function::PhoneCaptcha => "phone_captcha",
            Function::PhoneLogin => "phone_login",
            Function::SnsLogin => "sns_login",
            Function::PhoneBind => "phone_bind",
            Function::PasswordReset => "password_reset",
            Function::AccountDelete => "account_delete",
            Function::TokenRefresh => "token_refresh",
        }
    }
}

/// The code that answers one route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handler {
    Options,
    Register,
    Login,
    Logout,
    UserInfo,
    UserGet,
    UserIcon,
    UserPassword,
    RoomsList,
    RoomGet,
    RoomCreate,
    RoomUpdate,
    RoomDelete,
    PhoneCaptcha,
    PhoneLogin,
    SnsLogin,
    PhoneBind,
    PasswordReset,
    AccountDelete,
    TokenRefresh,
}

#[derive(Debug)]
pub struct Route {
    pub method: &'static str,
    /// API Gateway resource path: no trailing slash, `{pk}` for the path parameter.
    pub path: &'static str,
    pub function: Function,
    pub handler: Handler,
}

const fn route(method: &'static str, path: &'static str, function: Function, handler: Handler) -> Route {
    Route { method, path, function, handler }
}

use Function as F;
use Handler as H;

pub const ROUTES: &[Route] = &[
    route("POST", "/users", F::Register, H::Register),
    route("OPTIONS", "/users", F::Register, H::Options),
    route("POST", "/login", F::Login, H::Login),
    route("OPTIONS", "/login", F::Login, H::Options),
    route("POST", "/logout", F::Logout, H::Logout),
    route("OPTIONS", "/logout", F::Logout, H::Options),
    route("GET", "/users/{pk}", F::UserInfo, H::UserGet),
    route("PUT", "/users/{pk}", F::UserInfo, H::UserInfo),
    route("DELETE", "/users/{pk}", F::AccountDelete, H::AccountDelete),
    route("OPTIONS", "/users/{pk}", F::UserInfo, H::Options),
    route("PUT", "/users/phone/{pk}", F::PhoneBind, H::PhoneBind),
    route("OPTIONS", "/users/phone/{pk}", F::PhoneBind, H::Options),
    route("POST", "/password/reset", F::PasswordReset, H::PasswordReset),
    route("OPTIONS", "/password/reset", F::PasswordReset, H::Options),
    route("PUT", "/users/icon/{pk}", F::UserIcon, H::UserIcon),
    route("OPTIONS", "/users/icon/{pk}", F::UserIcon, H::Options),
    route("PUT", "/password", F::UserPassword, H::UserPassword),
    route("OPTIONS", "/password", F::UserPassword, H::Options),
    route("PUT", "/users/password", F::UserPassword, H::UserPassword),
    route("OPTIONS", "/users/password", F::UserPassword, H::Options),
    route("GET", "/rooms", F::Rooms, H::RoomsList),
    route("POST", "/rooms", F::Rooms, H::RoomCreate),
    route("OPTIONS", "/rooms", F::Rooms, H::Options),
    route("GET", "/rooms/{pk}", F::Rooms, H::RoomGet),
    route("PUT", "/rooms/{pk}", F::Rooms, H::RoomUpdate),
    route("DELETE", "/rooms/{pk}", F::Rooms, H::RoomDelete),
    route("OPTIONS", "/rooms/{pk}", F::Rooms, H::Options),
    route("POST", "/phonelogin", F::PhoneCaptcha, H::PhoneCaptcha),
    route("OPTIONS", "/phonelogin", F::PhoneCaptcha, H::Options),
    route("GET", "/phonelogin", F::PhoneLogin, H::PhoneLogin),
    route("POST", "/snslogin", F::SnsLogin, H::SnsLogin),
    route("OPTIONS", "/snslogin", F::SnsLogin, H::Options),
    route("POST", "/token/refresh", F::TokenRefresh, H::TokenRefresh),
    route("OPTIONS", "/token/refresh", F::TokenRefresh, H::Options),
];

/// The request `Content-Type`s API Gateway hands to a function base64-encoded
/// (`isBase64Encoded`), as template.yaml's `BinaryMediaTypes` lists them (tests/deploy_files.rs
/// holds the two equal); every other body arrives as text. The local server does the same.
pub const BINARY_MEDIA_TYPES: &[&str] = &["image/jpeg", "image/png", "image/webp", "multipart/form-data"];

/// Drops the trailing slash the seed's paths carry (`/users/` and `/users` are one path).
pub fn normalise(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/"
    } else {
        trimmed
    }
}

/// The resource template a concrete path belongs to, with its `{pk}` value; static segments
/// win over parameters, as in API Gateway (`/users/password` is not user "password").
pub fn match_path(path: &str) -> Option<(&'static str, Option<String>)> {
    let segments: Vec<&str> = normalise(path).split('/').skip(1).collect();
    let mut best: Option<(&'static str, Option<String>, usize)> = None;
    for route in ROUTES {
        let template: Vec<&str> = route.path.split('/').skip(1).collect();
        if template.len() != segments.len() {
            continue;
        }
        let mut param = None;
        let mut statics = 0;
        let fits = template.iter().zip(&segments).all(|(t, s)| {
            if t.starts_with('{') {
                param = Some((*s).to_owned());
                !s.is_empty()
            } else {
                statics += 1;
                t == s
            }
        });
        if fits && best.as_ref().is_none_or(|(_, _, n)| statics > *n) {
            best = Some((route.path, param, statics));
        }
    }
    best.map(|(path, param, _)| (path, param))
}

/// The methods served on a resource, for `Allow` on OPTIONS.
pub fn allowed_methods(resource: &str) -> Vec<&'static str> {
    ROUTES.iter().filter(|r| r.path == resource).map(|r| r.method).collect()
}

pub fn find(method: &Method, resource: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.path == resource && r.method == method.as_str())
}
