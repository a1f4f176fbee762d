//! Passwords, tokens, the login lockout, and who a request belongs to.

pub mod captcha;
pub mod lockout;
pub mod passwords;
pub mod refresh;
pub mod session;
pub mod tokens;
