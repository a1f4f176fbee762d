//! Issue 29 item 11: names that look like someone else's. A reader cannot tell `bill` from
//! `bi11`, nor Latin `paypal` from Cyrillic `раураl`, nor `admin` from `аdmin` (a Cyrillic а):
//! each is refused while the other is taken (UTS #39 skeleton), mixed scripts are refused
//! outright, and room aliases are NFKC-normalised like usernames (`１２６２` is `1262`).

use api_tests::{unique, Method, TestApi};
use serde_json::{json, Value};

async fn register(api: &TestApi, username: &str) -> api_tests::Answer {
    api.post("/users/", json!({"username": username, "password": "password123", "nickname": "n"})).await
}

#[tokio::test]
async fn a_look_alike_of_a_taken_username_is_taken() {
    let api = TestApi::start().await;
    let base = unique("bill");
    register(&api, &base).await.assert_success(200);
    // The same name with digit one for letter l, and capital I for l.
    for alike in [base.replacen("ll", "11", 1), base.replacen("ll", "II", 1)] {
        let a = register(&api, &alike).await;
        a.assert_fail(409);
        assert_eq!(a.body["error"], "username_taken", "{alike}");
    }

    // A whole-script look-alike: Cyrillic р а у р а, then the Latin digits of the suffix.
    let suffix: String = unique("").chars().filter(char::is_ascii_digit).collect();
    register(&api, &format!("paypa{suffix}")).await.assert_success(200);
    let cyrillic = format!("\u{440}\u{430}\u{443}\u{440}\u{430}{suffix}");
    register(&api, &cyrillic).await.assert_fail(409);

    // A different name is still free, and case still tells names apart.
    register(&api, &base.replacen("bill", "bell", 1)).await.assert_success(200);
    register(&api, &base.replacen("bill", "Bill", 1)).await.assert_success(200);
}

#[tokio::test]
async fn a_name_mixing_scripts_is_refused_and_latin_beside_han_is_not() {
    let api = TestApi::start().await;
    let mixed = format!("\u{430}dmin{}", unique(""));
    let a = register(&api, &mixed).await;
    a.assert_fail(400);
    assert_eq!(a.body["field"], "username");
    register(&api, &format!("张三abc{}", unique(""))).await.assert_success(200);
}

#[tokio::test]
async fn renaming_moves_the_look_alike_claim_and_deletion_releases_it() {
    let api = TestApi::start().await;
    let first = unique("carol");
    let body: Value = api.register(&first).await;
    let (pk, token) = (body["pk"].as_str().unwrap().to_owned(), body["token"].as_str().unwrap().to_owned());
    let other = unique("dell");
    api.register(&other).await;

    // Renaming into a look-alike of someone else's name is refused, nothing changes.
    let a = api.put(&format!("/users/{pk}/"), json!({"token": token, "username": other.replacen("ll", "11", 1)})).await;
    a.assert_fail(409);
    assert_eq!(a.body["error"], "username_taken");

    // A rename releases the old name's look-alike (`caro1...` is free afterwards) and the new
    // name holds its own.
    let renamed = unique("erill");
    api.put(&format!("/users/{pk}/"), json!({"token": token, "username": renamed})).await.assert_success(200);
    register(&api, &first.replacen('l', "1", 1)).await.assert_success(200);
    register(&api, &renamed.replacen("ll", "11", 1)).await.assert_fail(409);

    // Deleting the account releases the look-alike of its name with the name itself.
    let gone_name = unique("gill");
    let gone = api.register(&gone_name).await;
    let del = api
        .send(
            Method::DELETE,
            &format!("/users/{}/", gone["pk"].as_str().unwrap()),
            Some(json!({"token": gone["token"], "password": "password123"})),
        )
        .await;
    assert_eq!(del.status, 204, "{}", del.body);
    register(&api, &gone_name.replacen("ll", "11", 1)).await.assert_success(200);

    // erill (moved from carol), dell, caro1, gi11: one claim each, none left by carol or gill.
    let users = api.ctx.store.tables().users.clone();
    let lookalikes = api
        .scan(&users)
        .await
        .iter()
        .filter(|item| item["id"].as_s().is_ok_and(|id| id.starts_with("lookalike#")))
        .count();
    assert_eq!(lookalikes, 4);
}

#[tokio::test]
async fn room_aliases_are_nfkc_normalised_so_a_fullwidth_copy_is_taken() {
    let api = TestApi::start().await;
    let owner = api.register(&unique("rooms")).await;
    let token = owner["token"].as_str().unwrap();
    let digits: String = unique("").chars().filter(char::is_ascii_digit).take(6).collect();
    let fullwidth: String = digits.chars().map(|c| char::from_u32(c as u32 - '0' as u32 + 0xff10).unwrap()).collect();

    let created = api.post("/rooms/", json!({"room_alias": fullwidth, "token": token})).await;
    created.assert_success(201);
    assert_eq!(created.body["room_alias"], digits.as_str(), "stored normalised");
    let again = api.post("/rooms/", json!({"room_alias": digits, "token": token})).await;
    again.assert_fail(409);
    assert_eq!(again.body["error"], "room_alias_taken");
}
