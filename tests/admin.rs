//! The operator tool (tools/admin) against DynamoDB Local, with the API served over HTTP on the
//! same tables: what each act does is checked through the API, as an app would meet it.

use admin::{AdminError, Command, Lookup};
use api_tests::{latest_code, unique, unique_phone, TestApi};
use serde_json::{json, Value};

async fn admin(api: &TestApi, command: Command) -> Value {
    admin::run(&api.ctx, &command).await.unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

fn s(body: &Value, field: &str) -> String {
    body[field].as_str().unwrap_or_else(|| panic!("{field} missing in {body}")).to_owned()
}

struct Login {
    pk: u64,
    token: String,
    refresh: String,
}

async fn register_and_login(api: &TestApi, name: &str) -> Login {
    api.register(name).await;
    let a = api.post("/login/", json!({"username": name, "password": "password123"})).await;
    a.assert_success(200);
    Login { pk: s(&a.body, "pk").parse().unwrap(), token: s(&a.body, "token"), refresh: s(&a.body, "refresh_token") }
}

/// PUT /users/{pk}/ with `token`: (status, error id).
async fn with_token(api: &TestApi, login: &Login, token: &str) -> (u16, Value) {
    let a = api.put(&format!("/users/{}/", login.pk), json!({"token": token, "nickname": "n"})).await;
    (a.status, a.body["error"].clone())
}

async fn password_login(api: &TestApi, name: &str, password: &str) -> (u16, Value) {
    let a = api.post("/login/", json!({"username": name, "password": password})).await;
    (a.status, a.body["error"].clone())
}

#[tokio::test]
async fn disable_refuses_tokens_and_right_passwords_and_enable_restores() {
    let api = TestApi::start().await;
    let name = unique("adm");
    let login = register_and_login(&api, &name).await;

    let out = admin(&api, Command::Disable(login.pk)).await;
    assert_eq!(out["disabled"], true, "{out}");
    assert_eq!(with_token(&api, &login, &login.token).await, (403, json!("account_disabled")));
    let refreshed = api.post("/token/refresh/", json!({"refresh_token": login.refresh})).await;
    assert_eq!((refreshed.status, refreshed.body["error"].clone()), (403, json!("account_disabled")));
    assert_eq!(password_login(&api, &name, "password123").await, (403, json!("account_disabled")));
    assert_eq!(password_login(&api, &name, "wrong-password").await, (401, json!("invalid_credentials")));
    // Disabling twice is the same state.
    assert_eq!(admin(&api, Command::Disable(login.pk)).await["disabled"], true);
    let found = admin(&api, Command::Find(Lookup::Username(name.clone()))).await;
    assert_eq!((found["pk"].clone(), found["disabled"].clone()), (json!(login.pk.to_string()), json!(true)));

    let out = admin(&api, Command::Enable(login.pk)).await;
    assert_eq!(out["disabled"], false, "{out}");
    assert_eq!(with_token(&api, &login, &login.token).await.0, 200);
    assert_eq!(password_login(&api, &name, "password123").await.0, 200);
}

#[tokio::test]
async fn signout_ends_every_session_and_a_new_login_works() {
    let api = TestApi::start().await;
    let name = unique("adm");
    let first = register_and_login(&api, &name).await;
    let second = api.post("/login/", json!({"username": name, "password": "password123"})).await;
    let second_token = s(&second.body, "token");

    let out = admin(&api, Command::Signout(first.pk)).await;
    assert_eq!(out["pk"], first.pk.to_string(), "{out}");
    assert_eq!(with_token(&api, &first, &first.token).await.0, 401);
    assert_eq!(with_token(&api, &first, &second_token).await.0, 401);
    api.post("/token/refresh/", json!({"refresh_token": first.refresh})).await.assert_fail(401);
    let again = api.post("/login/", json!({"username": name, "password": "password123"})).await;
    again.assert_success(200);
    assert_eq!(with_token(&api, &first, &s(&again.body, "token")).await.0, 200);
}

#[tokio::test]
async fn find_by_phone_then_delete_leaves_nothing_to_log_into() {
    let api = TestApi::with_config(|c| c.sms.resend_interval = std::time::Duration::ZERO).await;
    let (national, e164) = unique_phone();
    api.post("/phonelogin/", json!({"phone": national})).await.assert_success(200);
    let code = latest_code(&e164).await;
    let first = api.get(&format!("/phonelogin/?phone={national}&captcha={code}")).await;
    let pk: u64 = s(&first.body, "pk").parse().unwrap();
    let token = s(&first.body, "token");
    let room = api.post("/rooms/", json!({"token": token, "room_alias": unique("room")})).await;
    room.assert_success(201);

    let found = admin(&api, Command::Find(Lookup::Phone(national.clone()))).await;
    assert_eq!(found["pk"], pk.to_string(), "{found}");
    let shown = found["verified_phone"].as_str().unwrap();
    assert!(shown.ends_with(&e164[e164.len() - 4..]) && !shown.contains(&national[..7]), "{shown}");

    let out = admin(&api, Command::Delete(pk)).await;
    assert_eq!(out["deleted"], true, "{out}");
    let gone = api.put(&format!("/users/{pk}/"), json!({"token": token, "nickname": "n"})).await;
    gone.assert_fail(401);
    assert_eq!(api.get(&format!("/rooms/{}/", s(&room.body, "pk"))).await.status, 404);
    assert!(matches!(
        admin::run(&api.ctx, &Command::Find(Lookup::Phone(national))).await,
        Err(AdminError::NoAccount(_))
    ));
    // Again: the tombstone is there, its rooms are finished off, nothing fails.
    assert_eq!(admin(&api, Command::Delete(pk)).await["deleted"], true);
    assert!(matches!(admin::run(&api.ctx, &Command::Disable(pk)).await, Err(AdminError::Deleted(_))));
}

#[tokio::test]
async fn a_deployed_stacks_tables_come_from_its_outputs() {
    // moto stands in for CloudFormation: a stack with the three outputs template.yaml declares.
    let moto = std::env::var("MOTO_URL").expect("MOTO_URL is set by `make test`");
    let sdk = api_tests::sdk_config().await.to_builder().endpoint_url(moto).build();
    let stack = unique("stack");
    let body = json!({
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "UsersTableName": {"Value": "prod-UsersTable-1"},
            "TokensTableName": {"Value": "prod-TokensTable-2"},
            "RoomsTableName": {"Value": "prod-RoomsTable-3"},
            "AvatarBucketName": {"Value": "prod-avatarbucket-4"},
        },
    });
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    cfn.create_stack().stack_name(&stack).template_body(body.to_string()).send().await.unwrap();

    let deployed = admin::stack_resources(&sdk, &stack).await.unwrap();
    let tables = &deployed.tables;
    assert_eq!(
        (tables.users.as_str(), tables.tokens.as_str(), tables.rooms.as_str(), deployed.avatar_bucket.as_str()),
        ("prod-UsersTable-1", "prod-TokensTable-2", "prod-RoomsTable-3", "prod-avatarbucket-4")
    );
    let missing = admin::stack_resources(&sdk, &unique("nostack")).await;
    assert!(matches!(missing, Err(AdminError::Stack(_))), "{missing:?}");
}
