//! API Gateway in, JSON envelope out.

pub mod dispatch;
pub mod envelope;
pub mod request;
pub mod routes;

pub use dispatch::{respond, respond_as, service, Endpoints};
pub use envelope::ApiResponse;
pub use request::ApiRequest;
