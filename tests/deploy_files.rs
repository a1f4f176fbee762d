//! The files beside `template.yaml` agree with it: `openapi.yaml` documents exactly the routes
//! it deploys, and `env.json` (for `sam local invoke`) sets what SAM cannot resolve locally.

use std::collections::BTreeSet;
use std::path::Path;

use api_tests::USER_FIELDS;
use local_api::template::Template;
use serde_json::Value;

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn root_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `openapi.yaml` as JSON (anchors resolved).
fn openapi() -> Value {
    Template::parse(&root_file("openapi.yaml")).expect("openapi.yaml is YAML").root().clone()
}

/// openapi.yaml writes paths with the trailing slash the apps use (`/users/`); the template's
/// Api events without it (`/users`). API Gateway serves both forms.
fn normalise(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    }
}

fn documented() -> BTreeSet<(String, String)> {
    let doc = openapi();
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        assert!(path.ends_with('/'), "{path}: openapi.yaml writes every path with its trailing slash");
        for method in METHODS {
            if item.get(*method).is_some() {
                ops.insert((method.to_ascii_uppercase(), normalise(path)));
            }
        }
    }
    ops
}

fn deployed() -> BTreeSet<(String, String)> {
    let template = Template::load(&Template::default_path()).unwrap();
    template.api_events().into_iter().map(|e| (e.method, e.path)).collect()
}

#[test]
fn openapi_documents_exactly_the_deployed_routes() {
    let deployed = deployed();
    let documented = documented();
    let undocumented: Vec<_> = deployed.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&deployed).collect();
    assert!(undocumented.is_empty(), "routes missing from openapi.yaml: {undocumented:?}");
    assert!(unknown.is_empty(), "openapi.yaml documents routes nobody deploys: {unknown:?}");
}

#[test]
fn openapi_describes_the_envelope_and_every_user_field() {
    let doc = openapi();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "OpenAPI 3");
    let schemas = &doc["components"]["schemas"];
    let required = |name: &str| -> BTreeSet<String> {
        schemas[name]["required"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}.required"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(required("Envelope"), ["status", "code", "msg"].map(String::from).into());
    assert_eq!(required("User"), USER_FIELDS.iter().map(|f| (*f).to_owned()).collect());
    assert_eq!(required("Room"), ["pk", "roomid", "room_alias", "active"].map(String::from).into());
    for (name, schema) in schemas["User"]["properties"].as_object().unwrap() {
        assert_eq!(schema["type"], "string", "User.{name}: every user field is a JSON string");
    }
    assert_eq!(schemas["Room"]["properties"]["active"]["type"], "boolean");
}

/// `sam local invoke` overrides only variables the template declares, gives those it cannot
/// resolve (conditions) an empty value and resource references their logical id, and ignores
/// env.json names the template does not declare. env.json sets every variable that is not a
/// literal or a parameter (local endpoints, local table names), and nothing undeclared.
#[test]
fn env_json_sets_what_sam_local_cannot_resolve_and_nothing_undeclared() {
    let template = Template::load(&Template::default_path()).unwrap();
    let root = template.root();
    let env: Value = serde_json::from_str(&root_file("env.json")).expect("env.json is JSON");
    let set: BTreeSet<String> = env["Parameters"].as_object().expect("env.json: Parameters").keys().cloned().collect();

    let mut declared = BTreeSet::new();
    let mut unresolvable = BTreeSet::new();
    let globals = &root["Globals"]["Function"]["Environment"]["Variables"];
    let functions = template.resources_of_type("AWS::Serverless::Function").map(|(_, f)| f);
    for vars in std::iter::once(globals).chain(functions.map(|f| &f["Properties"]["Environment"]["Variables"])) {
        for (name, value) in vars.as_object().into_iter().flatten() {
            declared.insert(name.clone());
            let parameter_ref = value["Ref"].as_str().is_some_and(|r| root["Parameters"].get(r).is_some());
            if value.is_object() && !parameter_ref {
                unresolvable.insert(name.clone());
            }
        }
    }
    let missing: Vec<_> = unresolvable.difference(&set).collect();
    let undeclared: Vec<_> = set.difference(&declared).collect();
    assert!(missing.is_empty(), "env.json must set {missing:?} (sam local would leave them empty)");
    assert!(
        undeclared.is_empty(),
        "env.json sets {undeclared:?}, which template.yaml does not declare: sam local ignores them"
    );
}

/// tests/Cargo.toml has `autotests = false` (the crate's root is tests/, whose files are not in a
/// tests/tests/ dir): a file that is not registered would never run, silently.
#[test]
fn every_test_file_is_registered() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let registered: Vec<&str> =
        manifest.lines().filter_map(|l| l.trim().strip_prefix("path = \"")?.strip_suffix('"')).collect();
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".rs") {
            files += 1;
            assert!(
                registered.contains(&name.as_str()),
                "tests/{name} is not a [[test]] in tests/Cargo.toml: it never runs"
            );
        }
    }
    assert!(files > 10, "found only {files} test files");
}

/// The document's limits are the validators' own constants: change one and this fails until the
/// other follows.
#[test]
fn openapi_limits_are_the_validators_constants() {
    use shared::validate::*;
    let doc = openapi();
    let schemas = &doc["components"]["schemas"];
    let string_branch = |schema: &Value| -> Value {
        match schema["anyOf"].as_array() {
            Some(branches) => branches.iter().find(|b| b["type"] == "string").cloned().expect("a string branch"),
            None => schema.clone(),
        }
    };
    let max = |schema: &Value| string_branch(schema)["maxLength"].as_u64().unwrap_or_else(|| panic!("{schema}"));
    let profile = &schemas["Profile"]["properties"];
    let cases: &[(&str, &Value, usize)] = &[
        ("Username", &schemas["Username"], USERNAME_MAX),
        ("NewPassword", &schemas["NewPassword"], PASSWORD_MAX),
        ("PasswordAttempt", &schemas["PasswordAttempt"], PASSWORD_MAX),
        ("HttpUrl", &schemas["HttpUrl"], URL_MAX),
        ("RoomAlias", &schemas["RoomAlias"], shared::handlers::rooms::ALIAS_MAX),
        ("nickname", &profile["nickname"], NICKNAME_MAX),
        ("email", &profile["email"], EMAIL_MAX),
        ("phone", &profile["phone"], CONTACT_PHONE_MAX),
        ("country", &profile["country"], SHORT_TEXT_MAX),
        ("career", &profile["career"], SHORT_TEXT_MAX),
        ("snsid", &schemas["SnsLoginRequest"]["allOf"][1]["properties"]["snsid"], SNSID_MAX),
        ("access_token", &schemas["SnsLoginRequest"]["allOf"][1]["properties"]["access_token"], ACCESS_TOKEN_MAX),
    ];
    for (name, schema, limit) in cases {
        assert_eq!(max(schema), *limit as u64, "{name}: openapi.yaml maxLength vs validate.rs");
    }
    assert_eq!(string_branch(&schemas["NewPassword"])["minLength"], PASSWORD_MIN as u64);
    // Every format (Cf) range the server refuses in the Basic Multilingual Plane is excluded by
    // the nickname and alias patterns (JSON Schema patterns cannot name astral ranges portably).
    for schema in [&profile["nickname"], &schemas["RoomAlias"]] {
        let pattern = string_branch(schema)["pattern"].as_str().unwrap().to_owned();
        for &(lo, hi) in FORMAT_CHARS.iter().filter(|(lo, _)| *lo <= 0xFFFF) {
            let range = if lo == hi { format!("\\u{lo:04x}") } else { format!("\\u{lo:04x}-\\u{hi:04x}") };
            assert!(pattern.contains(&range), "{range} missing from {pattern}");
        }
    }
}

/// The alarms and the dashboard read the functions' own metrics by name: every name and
/// `Function` dimension they use is one the functions write (shared::metrics), every function
/// has an errors and a throttles alarm, and the dashboard body is JSON once substituted.
#[test]
fn alarms_and_dashboard_use_the_metrics_the_functions_write() {
    let template = Template::load(&Template::default_path()).unwrap();
    let mut names: BTreeSet<&str> = shared::metrics::Metric::ALL.iter().map(|m| m.name()).collect();
    // SNS's delivery receipts, counted from its delivery status logs by metric filters.
    for (_, filter) in template.resources_of_type("AWS::Logs::MetricFilter") {
        for t in filter["Properties"]["MetricTransformations"].as_array().unwrap() {
            assert_eq!(t["MetricNamespace"], serde_json::json!({"Ref": "MetricsNamespace"}));
            names.insert(t["MetricName"].as_str().unwrap());
        }
    }
    let crates: BTreeSet<&str> = shared::Function::ALL.iter().map(|f| f.crate_name()).collect();
    let own = |metric: &Value| metric["Namespace"] == serde_json::json!({"Ref": "MetricsNamespace"});
    let check = |metric: &Value| {
        let name = metric["MetricName"].as_str().unwrap();
        assert!(names.contains(name), "alarm on {name}, which no function writes");
        // The receipt metrics have no dimension (a metric filter has only the number to offer).
        let dims = metric["Dimensions"].as_array().map(Vec::as_slice).unwrap_or_default();
        assert!(dims.iter().all(|d| d["Name"] == "Function" && crates.contains(d["Value"].as_str().unwrap())));
    };
    let mut own_alarms = 0;
    let mut per_function = BTreeSet::new();
    for (id, alarm) in template.resources_of_type("AWS::CloudWatch::Alarm") {
        let p = &alarm["Properties"];
        assert!(p["AlarmActions"].is_object(), "{id}: notifies the optional topic");
        if own(p) {
            check(p);
            own_alarms += 1;
        }
        for m in p["Metrics"].as_array().into_iter().flatten() {
            let metric = &m["MetricStat"]["Metric"];
            if own(metric) {
                check(metric);
                own_alarms += 1;
            }
        }
        if p["Namespace"] == "AWS/Lambda" {
            let function = p["Dimensions"][0]["Value"]["Ref"].as_str().unwrap().to_owned();
            per_function.insert((function, p["MetricName"].as_str().unwrap().to_owned()));
        }
    }
    assert!(own_alarms >= 2, "SMS per hour and provider failures alarm on the functions' metrics");
    let functions: Vec<&str> = template.resources_of_type("AWS::Serverless::Function").map(|(id, _)| id).collect();
    for f in &functions {
        for metric in ["Errors", "Throttles"] {
            assert!(per_function.contains(&(f.to_string(), metric.to_owned())), "{f} has no {metric} alarm");
        }
    }

    let (_, dashboard) = template.resources_of_type("AWS::CloudWatch::Dashboard").next().expect("a dashboard");
    let body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"].as_str().expect("DashboardBody is a !Sub");
    let mut substituted = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        let end = start + rest[start..].find('}').unwrap();
        let var = &rest[start + 2..end];
        let known = var.starts_with("AWS::")
            || template.root()["Parameters"].get(var).is_some()
            || functions.contains(&var)
            || template.resources().any(|(id, _)| id == var);
        assert!(known, "dashboard uses ${{{var}}}, which the template does not define");
        substituted.push_str(&rest[..start]);
        substituted.push('x');
        rest = &rest[end + 1..];
    }
    substituted.push_str(rest);
    let body: Value = serde_json::from_str(&substituted).expect("dashboard body is JSON");
    for w in body["widgets"].as_array().unwrap() {
        for m in w["properties"]["metrics"].as_array().unwrap() {
            if m[0] == "x" {
                assert!(names.contains(m[1].as_str().unwrap()), "dashboard shows {}, which no function writes", m[1]);
            }
        }
    }
}

fn template() -> Template {
    Template::load(&Template::default_path()).unwrap()
}

/// Logs expire: every function writes to its own `AWS::Logs::LogGroup` whose retention is the
/// `LogRetentionDays` parameter (default 30 days).
#[test]
fn every_function_logs_to_its_own_group_with_a_retention() {
    let template = template();
    let root = template.root();
    assert_eq!(root["Parameters"]["LogRetentionDays"]["Default"], 30);
    let mut groups = BTreeSet::new();
    for (id, f) in template.resources_of_type("AWS::Serverless::Function") {
        let group = f["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: LoggingConfig.LogGroup must be !Ref of a log group"));
        let resource = &root["Resources"][group];
        assert_eq!(resource["Type"], "AWS::Logs::LogGroup", "{id} -> {group}");
        assert_eq!(resource["Properties"]["RetentionInDays"]["Ref"], "LogRetentionDays", "{group}");
        assert!(groups.insert(group.to_owned()), "{group} is shared by two functions");
    }
    // Beside the functions' groups, only the two SNS writes its SMS delivery receipts to.
    let mut others = 0;
    for (id, g) in template.resources_of_type("AWS::Logs::LogGroup").filter(|(id, _)| !groups.contains(*id)) {
        let name = g["Properties"]["LogGroupName"]["Fn::Sub"].as_str().unwrap_or_default();
        assert!(name.starts_with("sns/${AWS::Region}/${AWS::AccountId}/DirectPublishToPhoneNumber"), "{id} unused");
        assert_eq!(g["Properties"]["RetentionInDays"]["Ref"], "LogRetentionDays", "{id}");
        others += 1;
    }
    assert_eq!(others, 2);
}

/// The key prefixes each kind of item has (store/*.rs); token items are keyed by SHA-256 hex.
const KEY_PATTERNS: &[&str] = &[
    "user#*",
    "username#*",
    "sns#*",
    "phone#*",
    "counter#user_pk",
    "counter#room_pk",
    "counter#room_number",
    "room#*",
    "alias#*",
    "stats#active_rooms#*",
    "owner#*",
    "lockout#*",
    "revocations#apple",
    "apple#*",
    "session#*",
    "refresh#*",
    "captcha#*",
    "smslimit#*",
    "smsbudget#*",
];

/// Least privilege on the tables: every statement (of a function, or of the operators' managed
/// policy) that grants a DynamoDB action on a table names the item keys it may touch
/// (`dynamodb:LeadingKeys`), never `*`.
#[test]
fn every_table_statement_is_limited_to_its_key_prefixes() {
    let template = template();
    let token_key = "?".repeat(64);
    let mut checked = 0;
    // The functions' policies, and the operators' managed policy (tools/admin).
    let functions = template.resources_of_type("AWS::Serverless::Function").into_iter().flat_map(|(id, f)| {
        f["Properties"]["Policies"].as_array().cloned().unwrap_or_default().into_iter().map(move |p| (id, p))
    });
    let managed = template
        .resources_of_type("AWS::IAM::ManagedPolicy")
        .into_iter()
        .map(|(id, p)| (id, p["Properties"]["PolicyDocument"].clone()));
    let mut operator = 0;
    for (id, policy) in functions.chain(managed) {
        for statement in policy["Statement"].as_array().into_iter().flatten() {
            let actions: Vec<&str> = match &statement["Action"] {
                Value::String(a) => vec![a.as_str()],
                Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !actions.iter().any(|a| a.starts_with("dynamodb:")) {
                continue;
            }
            assert!(!actions.iter().any(|a| a.contains('*')), "{id}: wildcard action {actions:?}");
            let resource = statement["Resource"].to_string();
            if resource.contains("/index/") {
                // The sparse index of active rooms is read-only and holds rooms only.
                assert_eq!(actions, ["dynamodb:Query"], "{id}");
                continue;
            }
            let table = statement["Resource"]["Fn::GetAtt"][0].as_str().unwrap_or_default();
            assert!(table.ends_with("Table"), "{id}: one table per statement, not {resource}");
            let condition = &statement["Condition"];
            let keys = condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
                .as_array()
                .or(condition["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"].as_array())
                .unwrap_or_else(|| panic!("{id}: {actions:?} on {resource} without dynamodb:LeadingKeys"));
            for key in keys {
                let key = key.as_str().unwrap();
                assert!(KEY_PATTERNS.contains(&key) || key == token_key, "{id}: {key} is not one of the item kinds");
            }
            checked += 1;
            operator += usize::from(id == "OperatorPolicy");
        }
    }
    assert!(checked >= 30, "{checked} statements checked");
    assert!(operator >= 5, "{operator} statements of OperatorPolicy checked");
}

/// The captcha key is a generated secret, read at cold start by the functions that hash codes:
/// no parameter or environment variable holds it.
#[test]
fn the_captcha_key_is_a_generated_secret_not_a_parameter_or_variable() {
    let template = template();
    let root = template.root();
    assert!(root["Parameters"].get("CaptchaSecret").is_none());
    assert_eq!(root["Resources"]["CaptchaSecret"]["Type"], "AWS::SecretsManager::Secret");
    assert!(root["Resources"]["CaptchaSecret"]["Properties"]["GenerateSecretString"].is_object());
    let mut readers = BTreeSet::new();
    for (id, f) in template.resources_of_type("AWS::Serverless::Function") {
        let vars = &f["Properties"]["Environment"]["Variables"];
        assert!(vars.get("CAPTCHA_SECRET").is_none(), "{id}: the key in an environment variable");
        let reads = vars["CAPTCHA_SECRET_ARN"]["Ref"] == "CaptchaSecret";
        let granted = f["Properties"]["Policies"].to_string().contains(r#"{"Ref":"CaptchaSecret"}"#);
        assert_eq!(reads, granted, "{id}: reads the secret exactly when allowed to");
        if reads {
            readers.insert(f["Properties"]["CodeUri"].as_str().unwrap().to_owned());
        }
    }
    // The functions that send or check a captcha.
    let expected = ["phone_captcha", "phone_login", "phone_bind", "password_reset", "account_delete"];
    assert_eq!(readers, expected.iter().map(|f| format!("functions/{f}")).collect());
}

/// Per-IP rate limits at the edge: optional, on by default. Every deployed route is limited per
/// source IP: by a rule of its own where one request checks a secret, sends an SMS, creates
/// something or reads much (issue 29 item 8: `/rooms/` reads up to ~10,001 index items), and by
/// the catch-all rule everywhere, so that one host cannot take any route from everyone.
#[test]
fn waf_limits_every_route_per_source_ip() {
    let template = template();
    let root = template.root();
    assert_eq!(root["Parameters"]["EdgeRateLimits"]["Default"], "true");
    let acl = &root["Resources"]["EdgeWebAcl"];
    assert_eq!(acl["Type"], "AWS::WAFv2::WebACL");
    assert_eq!(acl["Condition"], "UseEdgeRateLimits");
    assert_eq!(root["Resources"]["EdgeWebAclAssociation"]["Condition"], "UseEdgeRateLimits");
    let rules = acl["Properties"]["Rules"].as_array().unwrap();
    let mut scoped = Vec::new();
    let mut catch_all = 0;
    // The avatar size rule is no rate rule (deploy_files' avatar test checks it).
    for rule in rules.iter().filter(|r| r["Name"] != "avatar-too-large") {
        let rate = &rule["Statement"]["RateBasedStatement"];
        assert_eq!(rate["AggregateKeyType"], "IP", "{rule}");
        assert_eq!(rule["Action"]["Block"]["CustomResponse"]["ResponseCode"], 429, "{rule}");
        match rate["ScopeDownStatement"]["RegexMatchStatement"]["RegexString"].as_str() {
            Some(regex) => scoped.push(regex_lite::Regex::new(regex).unwrap_or_else(|e| panic!("{regex}: {e}"))),
            None => {
                assert!(rate.get("ScopeDownStatement").is_none(), "{rule}");
                catch_all += 1;
            }
        }
    }
    assert_eq!(catch_all, 1, "one rule over every path");
    let own_rule = [
        "/login",
        "/phonelogin",
        "/snslogin",
        "/users",
        "/password",
        "/users/password",
        "/rooms",
        "/token/refresh",
        "/password/reset",
        "/users/{pk}",
        "/users/phone/{pk}",
    ];
    let deployed: BTreeSet<String> =
        template.api_events().into_iter().filter(|e| e.method != "OPTIONS").map(|e| e.path).collect();
    for path in own_rule {
        assert!(deployed.contains(path), "{path} is not deployed: {deployed:?}");
    }
    for path in &deployed {
        let concrete = path.replace("{pk}", "12");
        // As WAF sees the URI: with the stage, or behind a custom domain without it; with or
        // without the trailing slash.
        for seen in [format!("/prod{concrete}/"), format!("/prod{concrete}"), format!("{concrete}/"), concrete.clone()]
        {
            let matched = scoped.iter().filter(|r| r.is_match(&seen)).count();
            if own_rule.contains(&path.as_str()) {
                assert!(matched >= 1, "{seen} ({path}) has no rule of its own");
            }
        }
    }
}

/// Sampled requests keep every header of a request for 3 hours, `Authorization` and the tokens
/// in it too, and neither `RedactedFields` nor a logging filter reaches them (those apply to
/// logs only): sampling is off on the web ACL and on every rule (issue 29 item 12).
#[test]
fn waf_samples_no_requests() {
    fn walk(value: &Value, path: &str, seen: &mut usize) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == "SampledRequestsEnabled" {
                        *seen += 1;
                        assert_eq!(v, &Value::Bool(false), "{path}: sampling keeps tokens for 3 h");
                    }
                    walk(v, &format!("{path}.{k}"), seen);
                }
            }
            Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| walk(v, &format!("{path}[{i}]"), seen)),
            _ => {}
        }
    }
    let template = template();
    let mut seen = 0;
    walk(template.root(), "", &mut seen);
    let rules = template.root()["Resources"]["EdgeWebAcl"]["Properties"]["Rules"].as_array().unwrap().len();
    assert_eq!(seen, rules + 1, "every VisibilityConfig states it (it is required)");
}

/// API Gateway hands these bodies over base64-encoded, and the local server does the same.
#[test]
fn binary_media_types_are_the_local_server_s() {
    let template = template();
    let listed: Vec<String> = template.root()["Resources"]["MobileApi"]["Properties"]["BinaryMediaTypes"]
        .as_array()
        .expect("MobileApi.BinaryMediaTypes")
        .iter()
        .map(|v| v.as_str().unwrap().replace("~1", "/"))
        .collect();
    assert_eq!(listed, shared::http::routes::BINARY_MEDIA_TYPES);
}

/// Least privilege on the avatar bucket: UserIcon writes and deletes, AccountDelete deletes, both
/// only under avatars/; no other function and no read (CloudFront reads, through its origin
/// access control). The bucket is private, encrypted and unversioned.
#[test]
fn only_the_avatar_functions_touch_the_bucket_and_only_under_avatars() {
    let template = template();
    let mut granted = std::collections::BTreeMap::new();
    for (id, f) in template.resources_of_type("AWS::Serverless::Function") {
        for policy in f["Properties"]["Policies"].as_array().into_iter().flatten() {
            for statement in policy["Statement"].as_array().into_iter().flatten() {
                let actions: Vec<String> = match &statement["Action"] {
                    Value::String(a) => vec![a.clone()],
                    Value::Array(list) => list.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
                    _ => Vec::new(),
                };
                if !actions.iter().any(|a| a.starts_with("s3:")) {
                    continue;
                }
                assert_eq!(statement["Resource"]["Fn::Sub"], "${AvatarBucket.Arn}/avatars/*", "{id}");
                granted.entry(id.to_owned()).or_insert_with(Vec::new).extend(actions);
            }
        }
    }
    let want = [
        ("AccountDeleteFunction".to_owned(), vec!["s3:DeleteObject".to_owned()]),
        ("UserIconFunction".to_owned(), vec!["s3:PutObject".to_owned(), "s3:DeleteObject".to_owned()]),
    ];
    assert_eq!(granted, want.into_iter().collect());
    let bucket = &template.root()["Resources"]["AvatarBucket"]["Properties"];
    for block in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(bucket["PublicAccessBlockConfiguration"][block], true, "{block}");
    }
    assert!(bucket["BucketEncryption"].is_object());
    assert!(bucket["VersioningConfiguration"].is_null(), "a deleted avatar must be gone, not a noncurrent version");
    let origin = &template.root()["Resources"]["AvatarCdn"]["Properties"]["DistributionConfig"]["Origins"][0];
    assert!(origin["OriginAccessControlId"].is_object(), "CloudFront signs its reads (origin access control)");
}

/// An avatar too large to reach the function is refused by WAF with the function's own 413, and
/// only above what the function itself would answer (a 4 MiB file in a form passes).
#[test]
fn waf_refuses_an_avatar_too_large_for_lambda_with_the_function_s_envelope() {
    let template = template();
    let acl = &template.root()["Resources"]["EdgeWebAcl"]["Properties"];
    let rule = acl["Rules"].as_array().unwrap().iter().find(|r| r["Name"] == "avatar-too-large").expect("the rule");
    assert_eq!(rule["Action"]["Block"]["CustomResponse"]["ResponseCode"], 413);
    let body: Value =
        serde_json::from_str(acl["CustomResponseBodies"]["ImageTooLarge"]["Content"].as_str().unwrap()).unwrap();
    let err = shared::ApiError::ImageTooLarge(String::new());
    let response = shared::http::envelope::failure(&err, "*");
    let lambda_http::Body::Text(text) = response.body() else { panic!("text") };
    assert_eq!(body, serde_json::from_str::<Value>(text).unwrap());
    let statements = rule["Statement"]["AndStatement"]["Statements"].as_array().unwrap();
    let length = statements[1]["RegexMatchStatement"]["RegexString"].as_str().unwrap();
    let limit = shared::avatars::picture::MAX_BYTES + 64 * 1024;
    // The regex, read as the set of numbers it matches, around the limit and far from it.
    let matches = |n: usize| regex_matches_number(length, n);
    for n in [0, 1, 4_194_304, limit - 1, limit] {
        assert!(!matches(n), "{n} must pass");
    }
    for n in [limit + 1, limit + 9, limit + 60, limit + 160, 4_300_000, 5_000_000, 9_999_999, 10_000_000, 123_456_789] {
        assert!(matches(n), "{n} must be refused");
    }
}

/// A minimal matcher for the alternation of digit classes above: `^(a|b|...)$` where each
/// branch is digits, `[x-y]` classes and `{n}` / `{n,}` repeats of `[0-9]`.
fn regex_matches_number(regex: &str, n: usize) -> bool {
    let digits = n.to_string();
    let inner = regex.strip_prefix("^(").and_then(|r| r.strip_suffix(")$")).expect("^(...)$");
    inner.split('|').any(|branch| {
        let mut atoms: Vec<(u8, u8, usize, bool)> = Vec::new();
        let b = branch.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let (lo, hi) = if b[i] == b'[' {
                let class = (b[i + 1], b[i + 3]);
                i += 5;
                class
            } else {
                i += 1;
                (b[i - 1], b[i - 1])
            };
            if i < b.len() && b[i] == b'{' {
                let end = i + branch[i..].find('}').unwrap();
                let spec = &branch[i + 1..end];
                let open = spec.ends_with(',');
                let count: usize = spec.trim_end_matches(',').parse().unwrap();
                atoms.push((lo, hi, count, open));
                i = end + 1;
            } else {
                atoms.push((lo, hi, 1, false));
            }
        }
        let mut at = 0;
        let d = digits.as_bytes();
        for (k, (lo, hi, count, open)) in atoms.iter().enumerate() {
            let take = if *open { d.len().saturating_sub(at) } else { *count };
            if *open && (take < *count || k != atoms.len() - 1) {
                return false;
            }
            if at + take > d.len() || !d[at..at + take].iter().all(|c| (*lo..=*hi).contains(c)) {
                return false;
            }
            at += take;
        }
        at == d.len()
    })
}
