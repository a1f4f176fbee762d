//! Bad input, table-driven: every case gets a 4xx FAIL envelope that names the problem, and
//! the tables are byte-for-byte what they were before.

use api_tests::{unique, Method, TestApi};
use serde_json::json;

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: Vec<u8>,
    status: u16,
    /// Expected `error` id (stable) of the FAIL envelope.
    error: &'static str,
}

fn case(
    name: &'static str,
    method: Method,
    path: impl Into<String>,
    body: impl Into<Vec<u8>>,
    status: u16,
    error: &'static str,
) -> Case {
    Case { name, method, path: path.into(), body: body.into(), status, error }
}

fn js(v: serde_json::Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

#[tokio::test]
async fn bad_input_is_refused_and_writes_nothing() {
    let api = TestApi::start().await;
    let user = api.register(&unique("victim")).await;
    let pk = user["pk"].as_str().unwrap().to_owned();
    let token = user["token"].as_str().unwrap().to_owned();
    let fresh = unique("fresh");
    let reg = |extra: serde_json::Value| {
        let mut body = json!({"username": fresh, "password": "password123", "nickname": "n"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        js(body)
    };
    let info = |extra: serde_json::Value| {
        let mut body = json!({"token": token});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        js(body)
    };
    let big_username = "u".repeat(10 * 1024);
    let huge_body =
        format!(r#"{{"username":"{fresh}","password":"password123","nickname":"{}"}}"#, "n".repeat(100 * 1024));
    let p = Method::POST;
    let u = Method::PUT;
    let cases = vec![
        case("malformed JSON", p.clone(), "/users/", r#"{"username": "#, 400, "malformed_body"),
        case("JSON array", p.clone(), "/users/", "[1,2,3]", 400, "malformed_body"),
        case("JSON string", p.clone(), "/users/", r#""hello""#, 400, "malformed_body"),
        case("JSON null", p.clone(), "/users/", "null", 400, "malformed_body"),
        case("username object", p.clone(), "/users/", reg(json!({"username": {"a": 1}})), 400, "invalid_username"),
        case("username array", p.clone(), "/users/", reg(json!({"username": ["a"]})), 400, "invalid_username"),
        case("password bool", p.clone(), "/users/", reg(json!({"password": true})), 400, "invalid_password"),
        case("missing username", p.clone(), "/users/", reg(json!({"username": null})), 400, "missing_username"),
        case("missing password", p.clone(), "/users/", reg(json!({"password": null})), 400, "missing_password"),
        case("missing nickname", p.clone(), "/users/", reg(json!({"nickname": null})), 400, "missing_nickname"),
        case("empty username", p.clone(), "/users/", reg(json!({"username": ""})), 400, "invalid_username"),
        case("empty password", p.clone(), "/users/", reg(json!({"password": ""})), 400, "invalid_password"),
        case("blank nickname", p.clone(), "/users/", reg(json!({"nickname": "   "})), 400, "invalid_nickname"),
        case("10 kB username", p.clone(), "/users/", reg(json!({"username": big_username})), 400, "invalid_username"),
        case("100 kB body", p.clone(), "/users/", huge_body, 413, "body_too_large"),
        case("NUL in username", p.clone(), "/users/", reg(json!({"username": "a\u{0}b"})), 400, "invalid_username"),
        case("NUL in nickname", p.clone(), "/users/", reg(json!({"nickname": "a\u{0}"})), 400, "invalid_nickname"),
        case("invalid UTF-8", p.clone(), "/users/", b"{\"username\":\"\xff\xfe\"}".to_vec(), 400, "malformed_body"),
        case("sex 7", p.clone(), "/users/", reg(json!({"sex": "7"})), 400, "invalid_sex"),
        case("bad email", p.clone(), "/users/", reg(json!({"email": "not-an-email"})), 400, "invalid_email"),
        case("age letters", p.clone(), "/users/", reg(json!({"age": "abc"})), 400, "invalid_age"),
        case("age negative", p.clone(), "/users/", reg(json!({"age": -1})), 400, "invalid_age"),
        case("username with space", p.clone(), "/users/", reg(json!({"username": "a b"})), 400, "invalid_username"),
        case(
            "password 129 chars",
            p.clone(),
            "/users/",
            reg(json!({"password": "p".repeat(129)})),
            400,
            "invalid_password",
        ),
        case("phone letters", p.clone(), "/users/", reg(json!({"phone": "call-me"})), 400, "invalid_phone"),
        case(
            "nickname 65 chars",
            p.clone(),
            "/users/",
            reg(json!({"nickname": "n".repeat(65)})),
            400,
            "invalid_nickname",
        ),
        case("login malformed", p.clone(), "/login/", "{", 400, "malformed_body"),
        case("login missing password", p.clone(), "/login/", js(json!({"username": "x"})), 400, "missing_password"),
        case(
            "login password object",
            p.clone(),
            "/login/",
            js(json!({"username": "x", "password": {}})),
            400,
            "invalid_password",
        ),
        case(
            "logout token not hex",
            p.clone(),
            "/logout/",
            js(json!({"token": "../../etc/passwd"})),
            401,
            "invalid_token",
        ),
        case("logout token wrong type", p.clone(), "/logout/", js(json!({"token": [1]})), 400, "invalid_token"),
        case("non-numeric pk", u.clone(), "/users/abc/", info(json!({"nickname": "x"})), 400, "invalid_pk"),
        case("zero pk", u.clone(), "/users/0/", info(json!({"nickname": "x"})), 400, "invalid_pk"),
        case("unknown pk", u.clone(), "/users/987654321/", info(json!({"nickname": "x"})), 404, "user_not_found"),
        case("info sex 7", u.clone(), format!("/users/{pk}/"), info(json!({"sex": "7"})), 400, "invalid_sex"),
        case(
            "info empty username",
            u.clone(),
            format!("/users/{pk}/"),
            info(json!({"username": ""})),
            400,
            "invalid_username",
        ),
        case("info bad email", u.clone(), format!("/users/{pk}/"), info(json!({"email": "a@b"})), 400, "invalid_email"),
        case("info body array", u.clone(), format!("/users/{pk}/"), "[]", 400, "malformed_body"),
        case(
            "icon javascript:",
            u.clone(),
            format!("/users/icon/{pk}/"),
            info(json!({"icon": "javascript:alert(1)"})),
            400,
            "invalid_icon",
        ),
        case(
            "icon data:",
            u.clone(),
            format!("/users/icon/{pk}/"),
            info(json!({"icon": "data:text/html,<b>"})),
            400,
            "invalid_icon",
        ),
        case("icon missing", u.clone(), format!("/users/icon/{pk}/"), info(json!({})), 400, "missing_icon"),
        case(
            "icon non-numeric pk",
            u.clone(),
            "/users/icon/x1/",
            info(json!({"icon": "https://a.example/b.png"})),
            400,
            "invalid_pk",
        ),
        case(
            "password new too short",
            u.clone(),
            "/password/",
            js(
                json!({"username": user["username"], "old_password": "password123", "password": "short", "token": token}),
            ),
            400,
            "invalid_password",
        ),
        case(
            "password missing old",
            u.clone(),
            "/password/",
            js(json!({"username": user["username"], "password": "password456", "token": token})),
            400,
            "missing_old_password",
        ),
    ];
    assert!(cases.len() >= 25);

    let before = api.all_items().await;
    for c in &cases {
        let a = api.send_raw(c.method.clone(), &c.path, Some(c.body.clone()), &[]).await;
        assert!((400..500).contains(&a.status), "{}: status {} {}", c.name, a.status, a.body);
        a.assert_fail(c.status);
        assert_eq!(a.body["error"], c.error, "{}: {}", c.name, a.body);
        assert_eq!(before, api.all_items().await, "{} wrote something", c.name);
    }
    // The victim is intact and its token still works.
    api.put(&format!("/users/{pk}/"), json!({"token": token})).await.assert_success(200);
}
