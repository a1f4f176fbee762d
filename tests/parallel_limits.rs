//! Limits under parallel requests (API.md "Limits that hold under parallel requests"): every
//! burst here must get exactly what the same requests sent one at a time would. The local
//! server takes the caller's address from `X-Forwarded-For`, so one test plays many clients.

use std::time::Duration;

use api_tests::{latest_code, sms_for, unique, unique_phone, Answer, Method, TestApi};
use futures::future::join_all;
use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::{json, Value};
use shared::Config;

const PARALLEL: usize = 40;

fn statuses(answers: &[Answer]) -> (usize, usize, Vec<u16>) {
    let checked = answers.iter().filter(|a| a.status == 401).count();
    let locked = answers.iter().filter(|a| a.status == 429).count();
    let other = answers.iter().map(|a| a.status).filter(|s| *s != 401 && *s != 429).collect();
    (checked, locked, other)
}

async fn login_from(api: &TestApi, ip: &str, username: &str, password: &str) -> Answer {
    api.send_from(ip, Method::POST, "/login/", Some(json!({"username": username, "password": password}))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_parallel_wrong_passwords_check_at_most_the_threshold_and_the_owner_still_logs_in() {
    let api = TestApi::start().await;
    let name = unique("burst");
    api.register(&name).await;
    let answers = join_all((0..PARALLEL).map(|_| login_from(&api, "203.0.113.7", &name, "wrong-password"))).await;
    let (checked, locked, other) = statuses(&answers);
    println!("login burst, one IP: {checked} checked (401), {locked} refused (429)");
    assert!(other.is_empty(), "{other:?}");
    assert!(checked <= 5, "{checked} passwords checked, the threshold is 5");
    assert_eq!(checked + locked, PARALLEL);
    for a in answers.iter().filter(|a| a.status == 429) {
        a.assert_fail(429);
        assert_eq!(a.body["error"], "too_many_attempts");
        assert!(a.headers.contains_key("retry-after"));
    }
    // The attacker's address is locked, even with the right password; the owner's is not.
    login_from(&api, "203.0.113.7", &name, "password123").await.assert_fail(429);
    login_from(&api, "198.51.100.20", &name, "password123").await.assert_success(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_from_many_addresses_stops_at_the_username_ceiling() {
    let api = TestApi::with_config(|c| {
        c.lockout.username_ceiling = 10;
        c.lockout.ip_ceiling = 4;
    })
    .await;
    let name = unique("botnet");
    api.register(&name).await;
    let ips: Vec<String> = (0..PARALLEL).map(|i| format!("192.0.2.{}", i + 1)).collect();
    let answers = join_all(ips.iter().map(|ip| login_from(&api, ip, &name, "wrong-password"))).await;
    let (checked, locked, other) = statuses(&answers);
    println!("login burst, {PARALLEL} IPs: {checked} checked (401), {locked} refused (429)");
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(checked, 10, "exactly the ceiling is checked");
    assert_eq!(locked, PARALLEL - 10);
    // Until the window ends, nobody gets a password checked for this name, from anywhere.
    login_from(&api, "198.51.100.21", &name, "password123").await.assert_fail(429);
    // Another name is not affected.
    let other_name = unique("bystander");
    api.register(&other_name).await;
    login_from(&api, "192.0.2.1", &other_name, "password123").await.assert_success(200);
}

/// Issue 29, item 2: 20 addresses (5 failures each) used to shut the owner out of password
/// login for 24 h, everywhere. An address that logged into this name recently is a known
/// address: the name's ceiling does not apply to it (its own per-address lock still does).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_botnet_at_the_username_ceiling_does_not_shut_out_the_owners_known_address() {
    let api = TestApi::with_config(|c| {
        c.lockout.username_ceiling = 10;
        c.lockout.ip_ceiling = 4;
    })
    .await;
    let name = unique("owned");
    api.register(&name).await;
    let owner = "198.51.100.60";
    login_from(&api, owner, &name, "password123").await.assert_success(200);
    let ips: Vec<String> = (0..PARALLEL).map(|i| format!("192.0.2.{}", i + 100)).collect();
    let answers = join_all(ips.iter().map(|ip| login_from(&api, ip, &name, "wrong-password"))).await;
    let (checked, locked, other) = statuses(&answers);
    assert!(other.is_empty(), "{other:?}");
    assert_eq!((checked, locked), (10, PARALLEL - 10), "the ceiling still holds for unknown addresses");
    login_from(&api, "198.51.100.61", &name, "password123").await.assert_fail(429);
    // The owner, from the address they logged in from, still gets in.
    login_from(&api, owner, &name, "password123").await.assert_success(200);
    // Its wrong passwords are still counted and shut per address (ip_ceiling 4 here).
    for _ in 0..4 {
        login_from(&api, owner, &name, "wrong-password").await.assert_fail(401);
    }
    login_from(&api, owner, &name, "password123").await.assert_fail(429);
}

/// A known address outlives the failure window it was made known in: the next window, started
/// by the botnet, keeps it.
#[tokio::test]
async fn a_known_address_outlives_the_failure_window() {
    let api = TestApi::with_config(|c| {
        c.lockout.window = Duration::from_secs(2);
        c.lockout.username_ceiling = 3;
        c.lockout.ip_ceiling = 2;
    })
    .await;
    let name = unique("lasting");
    api.register(&name).await;
    let owner = "198.51.100.62";
    login_from(&api, owner, &name, "password123").await.assert_success(200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for ip in 1..=4 {
        login_from(&api, &format!("192.0.2.{}", 150 + ip), &name, "wrong-password").await;
    }
    login_from(&api, "198.51.100.63", &name, "password123").await.assert_fail(429);
    login_from(&api, owner, &name, "password123").await.assert_success(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_address_alone_cannot_reach_the_username_ceiling() {
    let api = TestApi::with_config(|c| {
        c.lockout.threshold = 3;
        c.lockout.base = Duration::from_secs(1);
        c.lockout.max = Duration::from_secs(1);
        c.lockout.username_ceiling = 6;
        c.lockout.ip_ceiling = 4;
    })
    .await;
    let name = unique("patient");
    api.register(&name).await;
    // The attacker waits out every lock; after ip_ceiling failures its address is shut for the
    // window, and the owner, elsewhere, is still let in.
    let mut checked = 0;
    for _ in 0..8 {
        let a = login_from(&api, "203.0.113.9", &name, "wrong-password").await;
        match a.status {
            401 => checked += 1,
            429 => tokio::time::sleep(Duration::from_millis(1100)).await,
            s => panic!("{s}: {}", a.body),
        }
    }
    assert_eq!(checked, 4, "one address gets ip_ceiling guesses per window");
    let shut = login_from(&api, "203.0.113.9", &name, "wrong-password").await;
    shut.assert_fail(429);
    let wait: u64 = shut.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait > 3600, "shut until the window ends, not for one lock: {wait}");
    login_from(&api, "198.51.100.22", &name, "password123").await.assert_success(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_parallel_wrong_old_passwords_are_held_like_logins() {
    let api = TestApi::start().await;
    let name = unique("pwburst");
    let reg = api.register(&name).await;
    let change = |ip: &'static str, old: &'static str| {
        let body = json!({"username": name, "old_password": old, "password": "password456", "token": reg["token"]});
        let api = &api;
        async move { api.send_from(ip, Method::PUT, "/password/", Some(body)).await }
    };
    let answers = join_all((0..PARALLEL).map(|_| change("203.0.113.8", "bad-old-pw"))).await;
    let (checked, locked, other) = statuses(&answers);
    println!("old_password burst, one IP: {checked} checked (401), {locked} refused (429)");
    assert!(other.is_empty(), "{other:?}");
    assert!(checked <= 5, "{checked} old passwords checked");
    assert_eq!(checked + locked, PARALLEL);
    change("203.0.113.8", "password123").await.assert_fail(429);
    // From the owner's own address the right old password still works.
    change("198.51.100.23", "password123").await.assert_success(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ceiling_holds_for_old_passwords_from_many_addresses() {
    let api = TestApi::with_config(|c| {
        c.lockout.username_ceiling = 7;
        c.lockout.ip_ceiling = 3;
    })
    .await;
    let name = unique("pwbot");
    let reg = api.register(&name).await;
    let answers = join_all((0..PARALLEL).map(|i| {
        let body =
            json!({"username": name, "old_password": "bad-old-pw", "password": "password456", "token": reg["token"]});
        let api = &api;
        async move { api.send_from(&format!("192.0.2.{}", i + 1), Method::PUT, "/password/", Some(body)).await }
    }))
    .await;
    let (checked, locked, other) = statuses(&answers);
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(checked, 7);
    assert_eq!(locked, PARALLEL - 7);
    login_from(&api, "198.51.100.24", &name, "password123").await.assert_fail(429);
}

async fn send_code(api: &TestApi, ip: &str, phone: &str) -> Answer {
    api.send_from(ip, Method::POST, "/phonelogin/", Some(json!({"phone": phone}))).await
}

async fn phone_login(api: &TestApi, phone: &str, code: &str) -> Answer {
    api.get(&format!("/phonelogin/?phone={phone}&captcha={code}")).await
}

fn wrong_codes(right: &str) -> impl Iterator<Item = String> + '_ {
    (0..).map(|i| format!("{:06}", (i * 7919 + 13) % 1_000_000)).filter(move |c| c != right)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_parallel_guesses_at_one_code_compare_at_most_five_and_never_the_late_right_one() {
    let api = TestApi::start().await;
    for round in 0..4 {
        let (national, e164) = unique_phone();
        send_code(&api, "127.0.0.1", &national).await.assert_success(200);
        let code = latest_code(&e164).await;
        let guess = |right: bool, g: String| {
            let (api, national) = (&api, &national);
            async move { (right, phone_login(api, national, &g).await) }
        };
        let in_flight: FuturesUnordered<_> = wrong_codes(&code).take(PARALLEL - 1).map(|g| guess(false, g)).collect();
        let mut in_flight = in_flight;
        // The right code goes out once five wrong guesses have been answered as compared,
        // while the others are still in flight: it must find the code's tries used up.
        let mut answers = Vec::new();
        let mut right_sent = false;
        while let Some((right, a)) = in_flight.next().await {
            answers.push((right, a));
            let compared = answers.iter().filter(|(_, a)| a.body["error"] == "invalid_captcha").count();
            if !right_sent && compared >= 5 {
                right_sent = true;
                in_flight.push(guess(true, code.clone()));
            }
        }
        let compared = answers.iter().filter(|(_, a)| a.body["error"] == "invalid_captcha").count();
        let refused = answers.iter().filter(|(_, a)| a.body["error"] == "captcha_tries_used_up").count();
        println!("captcha burst round {round}: {compared} guesses compared, {refused} refused uncompared");
        assert!(compared <= 5, "{compared} guesses compared with one code");
        assert!(answers.iter().all(|(_, a)| a.status == 401), "{answers:?}");
        assert!(right_sent, "fewer than 5 guesses were compared: {answers:?}");
        let (_, right) = answers.iter().find(|(r, _)| *r).unwrap();
        assert_eq!(right.body["error"], "captcha_tries_used_up", "{}", right.body);
        phone_login(&api, &national, &code).await.assert_fail(401);
    }
}

async fn phone_login_from(api: &TestApi, ip: &str, phone: &str, code: &str) -> Answer {
    api.send_from(ip, Method::GET, &format!("/phonelogin/?phone={phone}&captcha={code}"), None).await
}

/// Issue 29, item 1: send, five wrong tries, send, five wrong tries, from one address. The
/// budget of wrong tries is that address's, not the phone's: the owner's real code, asked for
/// and typed from the owner's address, still logs in while the attacker's address is refused.
#[tokio::test]
async fn one_address_cannot_lock_the_owner_out_of_sms_login() {
    let api = TestApi::with_config(|c| c.sms.resend_interval = Duration::ZERO).await;
    let (national, e164) = unique_phone();
    let (attacker, owner) = ("203.0.113.40", "198.51.100.40");
    let mut wrong = wrong_codes("");
    // Two codes, five wrong tries each: 10, the address's daily budget for this phone.
    for _ in 0..2 {
        send_code(&api, attacker, &national).await.assert_success(200);
        let code = latest_code(&e164).await;
        for g in wrong.by_ref().filter(|g| *g != code).take(5) {
            phone_login_from(&api, attacker, &national, &g).await.assert_fail(401);
        }
    }
    // The budget survives re-sends: a fresh code is delivered, but that address has no try
    // left today, not even for the right code.
    send_code(&api, attacker, &national).await.assert_success(200);
    let code = latest_code(&e164).await;
    let a = phone_login_from(&api, attacker, &national, &code).await;
    a.assert_fail(429);
    assert_eq!(a.body["error"], "too_many_attempts");
    assert!(a.headers.contains_key("retry-after"));
    // The owner asks for a code and types it: it logs in.
    send_code(&api, owner, &national).await.assert_success(200);
    let code = latest_code(&e164).await;
    phone_login_from(&api, owner, &national, &code).await.assert_success(200);
    // The attacker's address stays refused.
    phone_login_from(&api, attacker, &national, wrong.next().as_deref().unwrap()).await.assert_fail(429);
}

/// The per-phone ceiling caps what many addresses together can guess at one phone's codes.
#[tokio::test]
async fn many_addresses_together_stop_at_the_phones_wrong_try_ceiling() {
    let api = TestApi::with_config(|c| {
        c.sms.resend_interval = Duration::ZERO;
        c.sms.wrong_try_budget = 2;
        c.sms.wrong_try_ceiling = 6;
        c.sms.max_attempts = 20;
    })
    .await;
    let (national, e164) = unique_phone();
    let mut wrong = wrong_codes("");
    send_code(&api, "198.51.100.41", &national).await.assert_success(200);
    let codes = sms_for(&e164).await;
    let mut answers = Vec::new();
    for ip in 1..=5 {
        for _ in 0..2 {
            let g = wrong.by_ref().find(|g| !codes.iter().any(|c| c.contains(g.as_str()))).unwrap();
            answers.push(phone_login_from(&api, &format!("192.0.2.{ip}"), &national, &g).await.status);
        }
    }
    assert_eq!(answers.iter().filter(|s| **s == 401).count(), 6, "{answers:?}");
    assert_eq!(answers.iter().filter(|s| **s == 429).count(), 4, "{answers:?}");
    // Past the ceiling, no address gets a code compared until the window ends.
    let right = latest_code(&e164).await;
    phone_login_from(&api, "198.51.100.42", &national, &right).await.assert_fail(429);
}

/// A send that starts a new budget window starts every address's budget afresh with it.
#[tokio::test]
async fn a_new_window_gives_an_address_its_budget_back() {
    // A window shorter than a code's life: every send starts a new one.
    let api = TestApi::with_config(|c| {
        c.sms.resend_interval = Duration::ZERO;
        c.sms.wrong_try_budget = 2;
        c.sms.wrong_try_window = Duration::from_secs(100);
    })
    .await;
    let (national, e164) = unique_phone();
    let ip = "203.0.113.43";
    send_code(&api, ip, &national).await.assert_success(200);
    let code = latest_code(&e164).await;
    let mut wrong = wrong_codes(&code);
    for _ in 0..2 {
        phone_login_from(&api, ip, &national, &wrong.next().unwrap()).await.assert_fail(401);
    }
    phone_login_from(&api, ip, &national, &wrong.next().unwrap()).await.assert_fail(429);
    send_code(&api, ip, &national).await.assert_success(200);
    phone_login_from(&api, ip, &national, &latest_code(&e164).await).await.assert_success(200);
}

#[tokio::test]
async fn a_victims_delivered_code_still_works_after_an_attackers_re_sends() {
    let api = TestApi::with_config(|c| c.sms.resend_interval = Duration::ZERO).await;
    let (national, e164) = unique_phone();
    send_code(&api, "198.51.100.30", &national).await.assert_success(200);
    let victims = latest_code(&e164).await;
    for _ in 0..2 {
        send_code(&api, "203.0.113.30", &national).await.assert_success(200);
    }
    // Three live codes: a fourth send would void one, so it waits for the oldest to expire.
    let fourth = send_code(&api, "203.0.113.30", &national).await;
    fourth.assert_fail(429);
    assert_eq!(fourth.body["error"], "sms_resend_too_soon");
    assert_eq!(sms_for(&e164).await.len(), 3);
    phone_login(&api, &national, &victims).await.assert_success(200);
    // Each code works once; the attacker's re-sends went to the victim's phone, not to them.
    phone_login(&api, &national, &victims).await.assert_fail(401);
}

#[tokio::test]
async fn one_address_cannot_use_up_a_phones_daily_sends() {
    let api = TestApi::with_config(|c| {
        c.sms.resend_interval = Duration::ZERO;
        c.sms.max_live_codes = 10;
        c.sms.phone_ip_limit = 3;
        c.sms.phone_limit = 8;
    })
    .await;
    let (national, e164) = unique_phone();
    let cfg = api.ctx.config.sms.clone();
    assert!(cfg.phone_ip_limit < cfg.phone_limit, "a higher per-phone ceiling");
    for _ in 0..cfg.phone_ip_limit {
        send_code(&api, "203.0.113.31", &national).await.assert_success(200);
    }
    let refused = send_code(&api, "203.0.113.31", &national).await;
    refused.assert_fail(429);
    assert_eq!(refused.body["error"], "sms_phone_ip_limit");
    // The owner, elsewhere, still gets a code, and it works.
    send_code(&api, "198.51.100.31", &national).await.assert_success(200);
    phone_login(&api, &national, &latest_code(&e164).await).await.assert_success(200);
    // Enough addresses do reach the per-phone ceiling (it caps what one number can cost).
    let mut sent = cfg.phone_ip_limit + 1;
    let mut ip = 0;
    while sent < cfg.phone_limit {
        ip += 1;
        send_code(&api, &format!("192.0.2.{ip}"), &national).await.assert_success(200);
        sent += 1;
    }
    let ceiling = send_code(&api, "192.0.2.200", &national).await;
    ceiling.assert_fail(429);
    assert_eq!(ceiling.body["error"], "sms_phone_limit");
    assert_eq!(sms_for(&e164).await.len() as u32, cfg.phone_limit);
}

#[tokio::test]
async fn a_failed_phone_login_does_not_use_up_the_code() {
    let api = TestApi::start().await;
    let (national, e164) = unique_phone();
    send_code(&api, "127.0.0.1", &national).await.assert_success(200);
    let code = latest_code(&e164).await;
    // A second server on the same tokens table whose users table is gone: the code checks out,
    // the account cannot be read or written, 503.
    let tables = shared::config::Tables { users: unique("gone"), ..api.ctx.store.tables().clone() };
    let broken = TestApi::serve(shared::Context::new(
        Config { tables: tables.clone(), ..api.ctx.config.clone() },
        &api_tests::sdk_config().await,
    ))
    .await;
    broken.ddb().delete_table().table_name(&tables.users).send().await.expect("delete table");
    phone_login(&broken, &national, &code).await.assert_fail(503);
    // The same code still logs in once the store is back.
    phone_login(&api, &national, &code).await.assert_success(200);
}

fn fullwidth(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_graphic() { char::from_u32(c as u32 + 0xFEE0).unwrap() } else { c }).collect()
}

#[tokio::test]
async fn look_alike_usernames_are_the_same_username() {
    let api = TestApi::start().await;
    let name = unique("nf");
    let owner = api.register(&name).await;
    let body = |username: &str| json!({"username": username, "password": "password123", "nickname": "n"});
    let wide = fullwidth(&name);
    assert_ne!(wide, name);
    let a = api.post("/users/", body(&wide)).await;
    a.assert_fail(409);
    assert_eq!(a.body["error"], "username_taken");
    // Compatibility forms: the ligature "ﬁ" is "fi", a superscript two is "2".
    let fi = unique("fi");
    api.register(&fi).await;
    api.post("/users/", body(&fi.replacen("fi", "\u{FB01}", 1))).await.assert_fail(409);
    let two = format!("{}2", unique("sup"));
    api.register(&two).await;
    api.post("/users/", body(&two.replace('2', "\u{00B2}"))).await.assert_fail(409);

    // Login and password change under the look-alike reach the one account.
    let login = api.post("/login/", json!({"username": wide, "password": "password123"})).await;
    login.assert_success(200);
    assert_eq!(login.body["pk"], owner["pk"]);
    assert_eq!(login.body["username"], name.as_str());
    // A rename onto a look-alike of a taken name is 409.
    let other = api.register(&unique("other")).await;
    let path = format!("/users/{}/", other["pk"].as_str().unwrap());
    let renamed = api.put(&path, json!({"token": other["token"], "username": wide})).await;
    renamed.assert_fail(409);
    // A new name is stored in its normal form.
    let fresh = unique("wide");
    let a = api.put(&path, json!({"token": other["token"], "username": fullwidth(&fresh)})).await;
    a.assert_success(200);
    assert_eq!(a.body["username"], fresh.as_str());
    let pw = api
        .put(
            "/password/",
            json!({"username": fullwidth(&fresh), "old_password": "password123", "password": "password456",
                   "token": other["token"]}),
        )
        .await;
    pw.assert_success(200);
}

#[tokio::test]
async fn invisible_format_characters_are_refused_in_names_nicknames_and_aliases() {
    let api = TestApi::start().await;
    let reg = api.register(&unique("cf")).await;
    let token = reg["token"].as_str().unwrap();
    let path = format!("/users/{}/", reg["pk"].as_str().unwrap());
    for cf in ["\u{200B}", "\u{202E}", "\u{2060}", "\u{FEFF}", "\u{00AD}", "\u{E0041}"] {
        let username = format!("ab{cf}c{}", unique(""));
        let a = api.post("/users/", json!({"username": username, "password": "password123", "nickname": "n"})).await;
        a.assert_fail(400);
        assert_eq!(a.body["error"], "invalid_username", "{cf:?}");
        let a = api
            .post(
                "/users/",
                json!({"username": unique("cf"), "password": "password123", "nickname": format!("ni{cf}ck")}),
            )
            .await;
        a.assert_fail(400);
        assert_eq!(a.body["error"], "invalid_nickname", "{cf:?}");
        let a = api.put(&path, json!({"token": token, "nickname": format!("n{cf}")})).await;
        a.assert_fail(400);
        assert_eq!(a.body["error"], "invalid_nickname", "{cf:?}");
        let a = api.post("/rooms/", json!({"token": token, "room_alias": format!("lob{cf}by")})).await;
        a.assert_fail(400);
        assert_eq!(a.body["error"], "invalid_room_alias", "{cf:?}");
    }
    // Visible text, emoji and CJK stay welcome.
    api.put(&path, json!({"token": token, "nickname": "小明 🐼"})).await.assert_success(200);
}

#[tokio::test]
async fn phone_login_usernames_do_not_contain_the_number() {
    let api = TestApi::start().await;
    for _ in 0..2 {
        let (national, e164) = unique_phone();
        send_code(&api, "127.0.0.1", &national).await.assert_success(200);
        let a = phone_login(&api, &national, &latest_code(&e164).await).await;
        a.assert_success(200);
        let username = a.str("username");
        let digits: String = username.chars().filter(char::is_ascii_digit).collect();
        assert!(!digits.contains(&national[3..]), "{username} reveals {national}");
        assert!(!username.contains(&national[..7]) && !username.contains(&national[4..]), "{username}");
        // Registering that name is a plain 409 that says nothing about any number.
        let taken: Value = api
            .post(
                "/users/",
                json!({"username": format!("phone_{}", &e164[1..]), "password": "password123", "nickname": "n"}),
            )
            .await
            .body;
        assert_eq!(taken["status"], "SUCCESS", "phone_<number> is not anybody's name: {taken}");
    }
}

/// Issue 29, item 6: SMS pumping across many phones and addresses (each under its own limits)
/// stops at the global budget, reserved before SNS is called.
#[tokio::test]
async fn pumping_stops_at_the_global_sms_budget() {
    let api = TestApi::with_config(|c| c.sms.global_hourly_limit = 3).await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let (national, e164) = unique_phone();
        sent.push((send_code(&api, &format!("192.0.2.{}", 60 + i), &national).await, e164));
    }
    let ok = sent.iter().filter(|(a, _)| a.status == 200).count();
    assert_eq!(ok, 3, "{:?}", sent.iter().map(|(a, _)| &a.body).collect::<Vec<_>>());
    for (a, e164) in sent.iter().filter(|(a, _)| a.status != 200) {
        a.assert_fail(429);
        assert_eq!(a.body["error"], "sms_global_limit");
        assert!(a.headers.contains_key("retry-after"));
        assert!(sms_for(e164).await.is_empty(), "a refused send reaches no phone");
    }
}

/// The per-country budget: one destination country (where pumping pays) is capped on its own,
/// the others keep sending.
#[tokio::test]
async fn a_country_stops_at_its_own_budget_and_the_others_keep_sending() {
    let api = TestApi::with_config(|c| {
        c.sms.allowed_countries = vec!["86".into(), "852".into(), "853".into()];
        c.sms.country_daily_limit = 2;
        // Macau's own budget: none today.
        c.sms.country_overrides = vec![("853".into(), 0, 0)];
    })
    .await;
    for i in 0..2 {
        let (national, _) = unique_phone();
        send_code(&api, &format!("192.0.2.{}", 70 + i), &national).await.assert_success(200);
    }
    let (national, _) = unique_phone();
    let a = send_code(&api, "192.0.2.72", &national).await;
    a.assert_fail(429);
    assert_eq!(a.body["error"], "sms_country_limit");
    let hk = format!("+852{}", &unique_phone().0[3..]);
    send_code(&api, "192.0.2.73", &hk).await.assert_success(200);
    let mo = format!("+853{}", &unique_phone().0[3..]);
    let a = send_code(&api, "192.0.2.74", &mo).await;
    a.assert_fail(429);
    assert_eq!(a.body["error"], "sms_country_limit");
}

/// Issue 29, item 6: a handful of addresses used up a phone's daily sends (4 IPs × 5), and then
/// the owner got no code all day. An address that has logged in with a code of this phone keeps
/// getting codes (under its own per-address limit), whatever other addresses spent.
#[tokio::test]
async fn attackers_cannot_use_up_the_sends_of_an_address_the_owner_logged_in_from() {
    let api = TestApi::with_config(|c| {
        c.sms.resend_interval = Duration::ZERO;
        c.sms.max_live_codes = 10;
        c.sms.phone_ip_limit = 3;
        c.sms.phone_limit = 8;
    })
    .await;
    let (national, e164) = unique_phone();
    let owner = "198.51.100.50";
    send_code(&api, owner, &national).await.assert_success(200);
    phone_login_from(&api, owner, &national, &latest_code(&e164).await).await.assert_success(200);
    let cfg = api.ctx.config.sms.clone();
    let mut sent = 1;
    let mut ip = 0;
    while sent < cfg.phone_limit {
        ip += 1;
        for _ in 0..cfg.phone_ip_limit.min(cfg.phone_limit - sent) {
            send_code(&api, &format!("192.0.2.{}", 80 + ip), &national).await.assert_success(200);
            sent += 1;
        }
    }
    println!("{ip} addresses used up the phone's {} daily sends", cfg.phone_limit);
    let refused = send_code(&api, "192.0.2.99", &national).await;
    refused.assert_fail(429);
    assert_eq!(refused.body["error"], "sms_phone_limit");
    // The owner's address still gets a code, and it works.
    send_code(&api, owner, &national).await.assert_success(200);
    phone_login_from(&api, owner, &national, &latest_code(&e164).await).await.assert_success(200);
}
