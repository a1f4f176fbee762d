//! Counts the DynamoDB requests a server makes: an SDK interceptor sees every attempt.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use shared::config::Tables;
use shared::{Config, Context};

use crate::{sdk_config, unique, TestApi};

/// The operations sent so far (`GetItem`, `Query`, `TransactWriteItems(3)` with its item count
/// ...), oldest first.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<String>>>);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "round-trip recorder"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = ctx.request().headers().get("x-amz-target").unwrap_or("?");
        let mut op = target.trim_start_matches("DynamoDB_20120810.").to_owned();
        // Items written, for the multi-item writes.
        let body = ctx.request().body().bytes().and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok());
        if let Some(items) = body.as_ref().and_then(|b| b["TransactItems"].as_array()) {
            op = format!("{op}({})", items.len());
        }
        self.0.lock().unwrap().push(op);
        Ok(())
    }
}

impl Recorder {
    /// The operations since the last call.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// A server (config tweaked) whose every DynamoDB request this recorder sees; table setup
    /// already taken out.
    pub async fn serve(&self, tweak: impl FnOnce(&mut Config)) -> TestApi {
        let sdk = sdk_config().await;
        let dynamodb = shared::deadlines::dynamodb(&sdk).to_builder().interceptor(self.clone()).build();
        let mut config = Config { tables: Tables::local(&unique("rt")), ..Config::default() };
        tweak(&mut config);
        let mut ctx = Context::new(config, &sdk);
        ctx.store = shared::store::Store::new(aws_sdk_dynamodb::Client::from_conf(dynamodb), ctx.config.tables.clone());
        let api = TestApi::serve(ctx).await;
        self.take();
        api
    }
}
