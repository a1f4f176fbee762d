//! The local side of the project: the API server that runs the Lambda handlers on 127.0.0.1,
//! and the table setup that reads `template.yaml`, so local and deployed tables never drift.

pub mod server;
pub mod tables;
pub mod template;
