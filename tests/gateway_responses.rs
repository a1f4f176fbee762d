//! The answers API Gateway writes itself (`GatewayResponses` in template.yaml) are the FAIL
//! envelopes of `shared::error::gateway_responses()`: each template body, rendered as API
//! Gateway would, is the body `envelope::failure` gives for that error, with its status and
//! headers; every error id they use is documented; and the local server answers the same
//! envelopes for the cases it can produce (unknown path or method, oversize body).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use api_tests::{Answer, Method, TestApi};
use local_api::template::Template;
use serde_json::Value;
use shared::error::gateway_responses;
use shared::http::envelope::failure;
use shared::ApiError;

const ORIGIN: &str = "https://app.example.com";

/// The response types issue 17 asks for; `gateway_responses()` may list more, never fewer.
const REQUIRED: &[&str] = &[
    "DEFAULT_4XX",
    "DEFAULT_5XX",
    "THROTTLED",
    "QUOTA_EXCEEDED",
    "MISSING_AUTHENTICATION_TOKEN",
    "WAF_FILTERED",
    "INTEGRATION_FAILURE",
    "INTEGRATION_TIMEOUT",
    "BAD_REQUEST_BODY",
    "REQUEST_TOO_LARGE",
];

/// The `$context` variables a gateway body may use, with sample values. None of them carries
/// anything the client sent: `$context.error.message` can hold a request header, and a static
/// template cannot escape it into JSON.
const CONTEXT_SAMPLES: &[(&str, &str)] = &[
    ("$context.requestId", "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"),
    ("$context.extendedRequestId", "Q5y8gGx1oAMFmSw="),
    ("$context.error.responseType", "THROTTLED"),
    ("$context.stage", "prod"),
];

/// One answer as a client receives it: status, headers (lower-case names) and parsed body.
#[derive(Debug, PartialEq)]
struct Wire {
    status: u16,
    /// Every header but Content-Type, which is compared by media type.
    headers: BTreeMap<String, String>,
    content_type: String,
    body: Value,
}

fn root_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A mapping template body as API Gateway fills it in.
fn render(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let (name, value) = CONTEXT_SAMPLES
            .iter()
            .filter(|(name, _)| {
                rest.starts_with(name) && !rest[name.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '.')
            })
            .max_by_key(|(name, _)| name.len())
            .unwrap_or_else(|| panic!("{rest}: unknown or request-controlled variable in a gateway body"));
        out.push_str(value);
        rest = &rest[name.len()..];
    }
    out.push_str(rest);
    out
}

/// A gateway response parameter: a static value in single quotes, literal or from `!Sub` of
/// template parameters (their defaults, which `override_parameter` sets like a deployment).
fn static_value(template: &Template, value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => {
            let mut s = other["Fn::Sub"].as_str().unwrap_or_else(|| panic!("{other}: literal or !Sub")).to_owned();
            for (name, p) in template.root()["Parameters"].as_object().unwrap() {
                if let Some(default) = p["Default"].as_str() {
                    s = s.replace(&format!("${{{name}}}"), default);
                }
            }
            assert!(!s.contains("${"), "{s}: !Sub of something that is not a parameter");
            s
        }
    };
    let inner = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\''));
    inner.unwrap_or_else(|| panic!("{text}: a static header value is written in single quotes")).to_owned()
}

/// Every `GatewayResponses` entry of the API, as a client would receive it (origin `ORIGIN`).
fn gateway_answers() -> BTreeMap<String, Wire> {
    let mut template = Template::load(&Template::default_path()).unwrap();
    template.override_parameter("CorsAllowOrigin", ORIGIN);
    let apis: Vec<_> = template.resources_of_type("AWS::Serverless::Api").collect();
    assert_eq!(apis.len(), 1, "one API");
    let responses = apis[0].1["Properties"]["GatewayResponses"].as_object().expect("the API has GatewayResponses");
    let mut out = BTreeMap::new();
    for (kind, r) in responses {
        let status = r["StatusCode"].as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            panic!("{kind}: StatusCode is a quoted number (a default 4XX/5XX status could not equal `code`)")
        });
        let templates = r["ResponseTemplates"].as_object().unwrap_or_else(|| panic!("{kind}: ResponseTemplates"));
        assert_eq!(templates.keys().collect::<Vec<_>>(), ["application/json"], "{kind}");
        let text = render(templates["application/json"].as_str().unwrap());
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{kind}: {e}: {text}"));
        let mut headers = BTreeMap::new();
        for (name, value) in r["ResponseParameters"]["Headers"].as_object().into_iter().flatten() {
            headers.insert(name.to_ascii_lowercase(), static_value(&template, value));
        }
        assert!(!headers.contains_key("content-type"), "{kind}: Content-Type comes from the template's media type");
        out.insert(kind.clone(), Wire { status, headers, content_type: "application/json".into(), body });
    }
    out
}

/// What a function answers for `err`.
fn function_answer(err: &ApiError) -> Wire {
    let response = failure(err, ORIGIN);
    let mut headers = BTreeMap::new();
    let mut content_type = String::new();
    for (name, value) in response.headers() {
        let value = value.to_str().unwrap().to_owned();
        if name == "content-type" {
            content_type = value;
        } else {
            headers.insert(name.as_str().to_owned(), value);
        }
    }
    let body = match response.body() {
        lambda_http::Body::Text(text) => serde_json::from_str(text).unwrap(),
        other => panic!("{other:?}"),
    };
    Wire { status: response.status().as_u16(), headers, content_type, body }
}

/// The same answer, up to the charset parameter of a JSON Content-Type (JSON is UTF-8).
#[track_caller]
fn assert_same(actual: &Wire, expected: &Wire, what: &str) {
    let essence = |ct: &str| ct.split(';').next().unwrap().trim().to_ascii_lowercase();
    assert_eq!(essence(&actual.content_type), "application/json", "{what}");
    assert_eq!(essence(&expected.content_type), "application/json", "{what}");
    assert_eq!(actual.status, expected.status, "{what}");
    assert_eq!(actual.body, expected.body, "{what}");
    assert_eq!(actual.headers, expected.headers, "{what}");
}

/// The envelope rules every FAIL answer of the API follows.
#[track_caller]
fn assert_envelope(wire: &Wire, what: &str) {
    let answer = Answer { status: wire.status, headers: Default::default(), body: wire.body.clone(), raw: Vec::new() };
    answer.assert_fail(wire.status);
    for (name, value) in wire.body.as_object().unwrap() {
        assert!(value.is_string(), "{what}: {name} must be a JSON string in {}", wire.body);
    }
    let id = wire.body["error"].as_str().unwrap();
    assert!(id.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{what}: error id {id} is snake_case");
    assert!(
        wire.body["msg"].as_str().unwrap().chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "{what}: Chinese msg"
    );
    assert_eq!(wire.headers.get("access-control-allow-origin").map(String::as_str), Some(ORIGIN), "{what}: CORS");
    assert_eq!(wire.headers.get("vary").map(String::as_str), Some("Origin"), "{what}");
    if wire.status == 429 {
        let header = wire.headers.get("retry-after").unwrap_or_else(|| panic!("{what}: 429 without Retry-After"));
        assert!(header.parse::<u64>().is_ok_and(|s| s > 0), "{what}: Retry-After {header}");
        assert_eq!(wire.body["retry_after"], header.as_str(), "{what}");
    }
}

#[test]
fn every_gateway_answer_is_the_failure_envelope_of_its_shared_error() {
    let deployed = gateway_answers();
    let table = gateway_responses();
    let listed: BTreeSet<&str> = table.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(listed.len(), table.len(), "a response type listed twice");
    for kind in REQUIRED {
        assert!(listed.contains(kind), "{kind} is not in shared::error::gateway_responses()");
    }
    assert_eq!(deployed.keys().map(String::as_str).collect::<BTreeSet<_>>(), listed, "template.yaml GatewayResponses");
    for (kind, err) in &table {
        let expected = function_answer(err);
        assert_envelope(&expected, kind);
        assert_same(&deployed[*kind], &expected, kind);
    }
    assert_eq!(deployed["MISSING_AUTHENTICATION_TOKEN"].body["error"], "route_not_found");
    assert_eq!(deployed["MISSING_AUTHENTICATION_TOKEN"].status, 404);
}

#[test]
fn gateway_bodies_render_only_variables_that_carry_no_request_data() {
    assert_eq!(render(r#"{"id":"$context.requestId","t":"$context.error.responseType"}"#).matches("$").count(), 0);
    for bad in ["$context.error.message", "$context.error.messageString", "$context.identity.sourceIp", "$input.body"] {
        let rendered = std::panic::catch_unwind(|| render(&format!(r#"{{"m":"{bad}"}}"#)));
        assert!(rendered.is_err(), "{bad} must be refused");
    }
}

#[test]
fn every_gateway_answer_is_documented_in_openapi_and_the_readme() {
    let deployed = gateway_answers();
    let openapi = Template::parse(&root_file("openapi.yaml")).unwrap();
    let examples =
        &openapi.root()["components"]["responses"]["GatewayAnswer"]["content"]["application/json"]["examples"];
    let readme = root_file("README.md");
    for (kind, wire) in &deployed {
        assert_eq!(examples[kind]["value"], wire.body, "openapi.yaml GatewayAnswer example {kind}");
        let id = wire.body["error"].as_str().unwrap();
        let row = readme.lines().find(|l| l.starts_with(&format!("| `{kind}` |")));
        let row = row.unwrap_or_else(|| panic!("README.md has no table row for `{kind}`"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells.get(2), Some(&wire.status.to_string().as_str()), "README row {kind}: status");
        assert_eq!(cells.get(3), Some(&format!("`{id}`").as_str()), "README row {kind}: error id");
        assert_eq!(cells.get(4), Some(&wire.body["msg"].as_str().unwrap()), "README row {kind}: msg");
    }
}

async fn local_answer(api: &TestApi, method: Method, path: &str, body: Option<Vec<u8>>) -> Wire {
    let a = api.send_raw(method, path, body, &[]).await;
    let mut headers = BTreeMap::new();
    let mut content_type = String::new();
    for (name, value) in &a.headers {
        let value = value.to_str().unwrap().to_owned();
        match name.as_str() {
            "content-type" => content_type = value,
            // Added by the HTTP layer, like API Gateway's own framing headers.
            "content-length" | "date" | "connection" => {}
            other => {
                headers.insert(other.to_owned(), value);
            }
        }
    }
    Wire { status: a.status, headers, content_type, body: a.body }
}

#[tokio::test]
async fn the_local_server_answers_unknown_paths_and_methods_with_the_gateway_404() {
    let gateway = gateway_answers();
    let api = TestApi::with_config(|c| c.cors_allow_origin = ORIGIN.into()).await;
    for (method, path) in [
        (Method::GET, "/nowhere/"),
        (Method::POST, "/users/1/extra/"),
        (Method::GET, "/"),
        (Method::GET, "/users/"),
        (Method::DELETE, "/login"),
        (Method::PATCH, "/rooms/1/"),
        (Method::GET, "/snslogin/"),
    ] {
        let local = local_answer(&api, method.clone(), path, None).await;
        assert_same(&local, &gateway["MISSING_AUTHENTICATION_TOKEN"], &format!("{method} {path}"));
    }
}

#[tokio::test]
async fn the_local_server_answers_oversize_bodies_with_the_gateway_413() {
    let gateway = gateway_answers();
    let api = TestApi::with_config(|c| c.cors_allow_origin = ORIGIN.into()).await;
    // Over API Gateway's own 10 MB limit (the gateway answers), and over the API's 64 KiB (the
    // function answers): one envelope.
    for size in [10 * 1024 * 1024 + 1, 64 * 1024 + 1] {
        let body = format!("{{\"username\":\"{}\"}}", "a".repeat(size));
        let local = local_answer(&api, Method::POST, "/users/", Some(body.into_bytes())).await;
        assert_same(&local, &gateway["REQUEST_TOO_LARGE"], &format!("{size} bytes"));
    }
}
