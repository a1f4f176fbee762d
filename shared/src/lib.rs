//! The library behind every Lambda function of the mobile backend.
//!
//! Layering: `http` turns API Gateway events into [`http::ApiRequest`]s and results into the
//! JSON envelope; `handlers` hold one module per endpoint; `auth` owns passwords, tokens and the
//! login lockout; `store` is the only code that talks to DynamoDB; `social` (cargo feature
//! `sns-providers`) is the only code that talks to the third-party login providers; `avatars`
//! (features `avatar-objects`, `avatars`) the only code that talks to S3 and decodes images.

pub mod accounts;
pub mod auth;
#[cfg(feature = "avatar-objects")]
pub mod avatars;
pub mod clock;
pub mod config;
pub mod context;
pub mod deadlines;
pub mod domain;
pub mod error;
pub mod handlers;
pub mod http;
#[cfg(feature = "https-client")]
pub mod https;
pub mod legacy;
pub mod metrics;
pub mod phone;
pub mod sdk;
pub mod secrets;
#[cfg(feature = "sms")]
pub mod sms;
pub mod sms_templates;
#[cfg(feature = "sns-providers")]
pub mod social;
pub mod store;
pub mod tls;
pub mod validate;

pub use config::Config;
pub use context::Context;
pub use error::ApiError;
pub use http::routes::{Function, ROUTES};

/// What every handler returns: a success envelope or an [`ApiError`] mapped once to FAIL.
pub type ApiResult<T = http::envelope::ApiResponse> = Result<T, ApiError>;
