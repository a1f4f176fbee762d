//! Creates the template's tables in DynamoDB Local: same keys, indexes and TTL attribute as the
//! deployed stack, read from `template.yaml` rather than written down a second time; and its
//! avatar bucket in moto's S3.

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use serde_json::Value;
use shared::config::Tables;

use crate::template::Template;

/// The configured name of the table a logical id deploys.
pub fn local_name<'a>(tables: &'a Tables, logical_id: &str) -> Result<&'a str, String> {
    match logical_id {
        "UsersTable" => Ok(&tables.users),
        "TokensTable" => Ok(&tables.tokens),
        "RoomsTable" => Ok(&tables.rooms),
        other => Err(format!("template table {other} has no configured name")),
    }
}

/// Creates every table that does not exist yet; existing ones are left as they are, so a
/// persistent local database survives restarts.
pub async fn create_all(client: &Client, template: &Template, tables: &Tables) -> Result<Vec<String>, String> {
    let mut created = Vec::new();
    for (logical_id, props) in template.tables() {
        let name = local_name(tables, logical_id)?;
        if create(client, name, props).await? {
            created.push(name.to_owned());
        }
    }
    Ok(created)
}

fn str_of<'a>(v: &'a Value, field: &str) -> Result<&'a str, String> {
    v[field].as_str().ok_or_else(|| format!("table property {field} missing in {v}"))
}

fn key_schema(v: &Value) -> Result<Vec<KeySchemaElement>, String> {
    v.as_array()
        .ok_or("KeySchema must be a list")?
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(str_of(k, "AttributeName")?)
                .key_type(KeyType::from(str_of(k, "KeyType")?))
                .build()
                .map_err(|e| e.to_string())
        })
        .collect()
}

async fn create(client: &Client, name: &str, props: &Value) -> Result<bool, String> {
    let attrs = props["AttributeDefinitions"]
        .as_array()
        .ok_or("AttributeDefinitions must be a list")?
        .iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(str_of(a, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(str_of(a, "AttributeType")?))
                .build()
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attrs))
        .set_key_schema(Some(key_schema(&props["KeySchema"])?));
    for gsi in props["GlobalSecondaryIndexes"].as_array().into_iter().flatten() {
        let projection = &gsi["Projection"];
        let mut p = Projection::builder()
            .projection_type(ProjectionType::from(projection["ProjectionType"].as_str().unwrap_or("ALL")));
        for attr in projection["NonKeyAttributes"].as_array().into_iter().flatten() {
            p = p.non_key_attributes(attr.as_str().unwrap_or_default());
        }
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(str_of(gsi, "IndexName")?)
                .set_key_schema(Some(key_schema(&gsi["KeySchema"])?))
                .projection(p.build())
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    match req.send().await {
        Ok(_) => {}
        Err(e) if matches!(e.as_service_error(), Some(CreateTableError::ResourceInUseException(_))) => {
            return Ok(false)
        }
        Err(e) => return Err(format!("create table {name}: {}", DisplayErrorContext(e))),
    }
    let ttl = &props["TimeToLiveSpecification"];
    if ttl["Enabled"] == true {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(str_of(ttl, "AttributeName")?)
                    .build()
                    .map_err(|e| e.to_string())?,
            )
            .send()
            .await
            .map_err(|e| format!("ttl on {name}: {}", DisplayErrorContext(e)))?;
    }
    Ok(true)
}

/// The store's client with a setup's patience: table creation is not a request, so the store's
/// per-request deadlines (shared::deadlines) would only make it fail on a loaded machine, where
/// DynamoDB Local can take seconds per table.
pub fn setup_client(store: &aws_sdk_dynamodb::Client) -> aws_sdk_dynamodb::Client {
    let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .operation_timeout(std::time::Duration::from_secs(60))
        .build();
    aws_sdk_dynamodb::Client::from_conf(store.config().to_builder().timeout_config(timeouts).build())
}

/// Creates the avatar bucket (the template's `AvatarBucket`) unless it exists, as the tables
/// are: in moto's S3 locally. Deployed, the bucket is private and CloudFront reads it for
/// everyone; here a bucket policy lets anyone read `avatars/*` straight from moto, which is what
/// makes `img` open in a browser on the machine.
pub async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<bool, String> {
    use aws_sdk_s3::operation::create_bucket::CreateBucketError;
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    let mut req = s3.create_bucket().bucket(bucket);
    // us-east-1 is the one region that takes no location constraint.
    if let Some(region) = s3.config().region().map(|r| r.as_ref()).filter(|r| *r != "us-east-1") {
        let location = BucketLocationConstraint::from(region);
        req =
            req.create_bucket_configuration(CreateBucketConfiguration::builder().location_constraint(location).build());
    }
    let created = match req.send().await {
        Ok(_) => true,
        Err(e) if matches!(e.as_service_error(), Some(CreateBucketError::BucketAlreadyOwnedByYou(_))) => false,
        Err(e) => return Err(format!("create bucket {bucket}: {}", DisplayErrorContext(e))),
    };
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": format!("arn:aws:s3:::{bucket}/{}*", shared::avatars::PREFIX),
        }],
    });
    s3.put_bucket_policy()
        .bucket(bucket)
        .policy(policy.to_string())
        .send()
        .await
        .map_err(|e| format!("bucket policy of {bucket}: {}", DisplayErrorContext(e)))?;
    Ok(created)
}
