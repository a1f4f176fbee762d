//! The cut-over (API.md "Moving an app off the legacy server"): a legacy export imported by
//! tools/import into the tables the local server serves (DynamoDB Local), then used through
//! the API as the moved app would: legacy passwords, live legacy tokens, third-party and SMS
//! accounts, rooms, numbers after the import; reruns, a killed run, every reject reason, and
//! no legacy hash left in any item or log line.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use api_tests::stand_in::{Kind as Provider, StandIns};
use api_tests::{latest_code, unique, unique_phone, TestApi};
use aws_sdk_dynamodb::types::AttributeValue;
use legacy_import::{Kind, Options, Progress, Summary};
use serde_json::{json, Value};

struct Quiet;
impl Progress for Quiet {
    fn advance(&self, _: Kind, _: u64) {}
}

fn options(dir: &Path) -> Options {
    Options {
        from: dir.into(),
        dry_run: false,
        chunk: 7,
        concurrency: 4,
        allowed_countries: vec!["86".into()],
        img_base: Some("https://static.example.com/".into()),
    }
}

async fn import(api: &TestApi, dir: &Path) -> Summary {
    legacy_import::run(&api.ctx.store, &options(dir), &Quiet).await.expect("import runs")
}

fn export_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("legacy-export-"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_jsonl(dir: &Path, file: &str, lines: &[Value]) {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join(file), text).unwrap();
}

fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).unwrap().to_rfc3339()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Legacy hashes and their passwords, computed with Python's hashlib as the seed (MD5 hex) and
/// Django (`md5$`, `sha1$`, `pbkdf2_sha256$`) compute them.
const MD5: (&str, &str) = ("legacy pass", "74d22f7c666150d2364e43dfcc00f395");
const MD5_SHORT: (&str, &str) = ("abc", "900150983cd24fb0d6963f7d28e17f72");
const DJANGO_MD5: (&str, &str) = ("legacy pass", "md5$seasalt$3ba6ec36b18f825433b3d33dae1d994b");
const DJANGO_SHA1: (&str, &str) = ("legacy pass", "sha1$seasalt$a69177e0b2021d4da5ecfce22e7ffa5fd4d26feb");
const DJANGO_PBKDF2: (&str, &str) =
    ("legacy pass", "pbkdf2_sha256$1000$Pd9fQ2xLmZ7a$iCySJf0bKs2FPw1QfUGD2vnCS35cNiLhvyC07ZLBzU0=");
const HASHES: [(&str, &str); 5] = [MD5, MD5_SHORT, DJANGO_MD5, DJANGO_SHA1, DJANGO_PBKDF2];

fn user(pk: u64, username: &str, password: &str) -> Value {
    json!({"pk": pk.to_string(), "username": username, "password": password, "nickname": format!("nick{pk}"),
           "sex": "1", "age": "31", "email": format!("u{pk}@example.com"), "phone": "", "country": "中国",
           "province": "浙江", "city": "杭州", "career": "dev", "login_type": "0",
           "img": "https://img.example.com/a.png", "date_joined": "2016-10-28T02:27:15.211240Z",
           "roomid": (5000 + pk).to_string()})
}

/// Five password accounts (one per hash format), a WeChat account, a verified-phone account,
/// an unverified one, rooms (one ownerless, one inactive), live and expired tokens.
struct Export {
    dir: PathBuf,
    wechat_snsid: String,
    verified: (String, String),
    unverified: (String, String),
    live_token: String,
    expired_token: String,
    live_created: i64,
}

fn the_export() -> Export {
    let dir = export_dir();
    let mut users: Vec<Value> =
        HASHES.iter().enumerate().map(|(i, (_, h))| user(10 + i as u64, &format!("legacy{i}"), h)).collect();
    let wechat_snsid = Provider::WeChat.subject(9_000 + std::process::id() % 1000);
    let mut wechat = user(20, "wechat_user", "");
    wechat["login_type"] = "1".into();
    wechat["snsid"] = wechat_snsid.as_str().into();
    users.push(wechat);
    let verified = unique_phone();
    let mut phone_user = user(21, "phone_user", "");
    phone_user["phone"] = verified.0.as_str().into();
    phone_user["phone_verified"] = "true".into();
    users.push(phone_user);
    let unverified = unique_phone();
    let mut contact = user(22, "contact_user", MD5.1);
    contact["phone"] = unverified.0.as_str().into();
    users.push(contact);
    // The export's largest pk and room number, among the ones above.
    // The seed's own avatars are relative paths: resolved against --img-base.
    let mut maxpk = user(900, "maxpk", MD5.1);
    maxpk["img"] = "static/mcuser/img/tests1.jpg".into();
    users.push(maxpk);
    write_jsonl(&dir, "users.jsonl", &users);
    write_jsonl(
        &dir,
        "rooms.jsonl",
        &[
            json!({"pk": "3", "roomid": "7001", "room_alias": "大厅", "active": "true", "owner_pk": "10"}),
            json!({"pk": "4", "roomid": "7002", "room_alias": "ownerless", "active": "true"}),
            json!({"pk": "77", "roomid": "9100", "room_alias": "quiet", "active": "false", "owner_pk": "11"}),
        ],
    );
    let live_created = now() - 3600;
    let live_token = "0123456789abcdef0123456789abcdef".to_owned();
    let expired_token = "fedcba9876543210fedcba9876543210".to_owned();
    write_jsonl(
        &dir,
        "tokens.jsonl",
        &[
            json!({"token": live_token, "pk": "10", "created": rfc3339(live_created)}),
            json!({"token": expired_token, "pk": "10", "created": rfc3339(now() - 25 * 3600)}),
        ],
    );
    Export { dir, wechat_snsid, verified, unverified, live_token, expired_token, live_created }
}

async fn login(api: &TestApi, username: &str, password: &str) -> api_tests::Answer {
    api.post("/login/", json!({"username": username, "password": password})).await
}

async fn stored_hash(api: &TestApi, username: &str) -> String {
    let out = api
        .ddb()
        .get_item()
        .table_name(&api.ctx.store.tables().users)
        .key("id", AttributeValue::S(format!("username#{username}")))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.item().and_then(|i| i.get("password_hash")).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default()
}

#[tokio::test]
async fn imported_accounts_log_in_with_their_legacy_passwords_and_are_upgraded_once() {
    let api = TestApi::start().await;
    let export = the_export();
    let summary = import(&api, &export.dir).await;
    assert_eq!(summary, Summary { users: 9, rooms: 3, tokens: 1, rejected: 0, unchanged: 1 }, "{summary:?}");

    for (i, (password, _)) in HASHES.iter().enumerate() {
        let name = format!("legacy{i}");
        assert!(stored_hash(&api, &name).await.starts_with("$legacy$"), "wrapped at import");
        login(&api, &name, "wrong password").await.assert_fail(401);
        let a = login(&api, &name, password).await;
        a.assert_success(200);
        assert_eq!(a.body["pk"], (10 + i).to_string());
        assert_eq!(a.body["roomid"], (5010 + i).to_string());
        assert_eq!(
            (a.body["nickname"].as_str(), a.body["city"].as_str()),
            (Some(format!("nick{}", 10 + i).as_str()), Some("杭州"))
        );
        assert_eq!(a.body["date_joined"], "2016-10-28T02:27:15.211240Z");
        assert_eq!(a.body["password"], "");
        let short = password.chars().count() < 8;
        assert_eq!(a.body.get("password_change_required").is_some(), short, "{name}: {}", a.body);
        if short {
            assert_eq!(a.body["password_change_required"], "true");
        }
        let upgraded = stored_hash(&api, &name).await;
        assert!(upgraded.starts_with("$argon2id$"), "{name}: plain argon2id after the first login: {upgraded}");
        login(&api, &name, password).await.assert_success(200);
        assert_eq!(stored_hash(&api, &name).await, upgraded, "upgraded once only");
    }

    // Two first logins at once: both succeed, one hash is left and it works.
    let (a, b) = tokio::join!(login(&api, "maxpk", MD5.0), login(&api, "maxpk", MD5.0));
    a.assert_success(200);
    b.assert_success(200);
    assert_eq!(a.body["img"], "https://static.example.com/static/mcuser/img/tests1.jpg");
    assert!(stored_hash(&api, "maxpk").await.starts_with("$argon2id$"));
    login(&api, "maxpk", MD5.0).await.assert_success(200);

    // The legacy token works until created + 24 h; the one already past it was not imported.
    let me = api.get(&format!("/users/10/?token={}", export.live_token)).await;
    me.assert_success(200);
    assert_eq!(me.body["username"], "legacy0");
    api.get(&format!("/users/10/?token={}", export.expired_token)).await.assert_fail(401);
    let hash = shared::auth::tokens::hash(&export.live_token);
    let item = api
        .ddb()
        .get_item()
        .table_name(&api.ctx.store.tables().tokens)
        .key("id", AttributeValue::S(hash))
        .send()
        .await
        .unwrap();
    let expires = item.item().unwrap()["expires_at"].as_n().unwrap().parse::<i64>().unwrap();
    assert_eq!(expires, export.live_created + 24 * 3600, "expires at created + 24 h");
    let out = api.post("/logout/", json!({"token": export.live_token})).await;
    out.assert_success(200);
    api.get(&format!("/users/10/?token={}", export.live_token)).await.assert_fail(401);
}

#[tokio::test]
async fn third_party_and_phone_accounts_rooms_and_numbers_after_the_import() {
    let providers = StandIns::start().await;
    let api = TestApi::with_config(|c| providers.configure(c)).await;
    let export = the_export();
    import(&api, &export.dir).await;

    // The WeChat account is reached by its snsid: 200 (not a new account's 201), same pk.
    let token = unique("wx");
    providers.wechat.grant(&token, &export.wechat_snsid, Provider::WeChat.our_app());
    let sns = api
        .post(
            "/snslogin/",
            json!({"login_type": "1", "snsid": export.wechat_snsid, "access_token": token, "username": "someone",
                   "nickname": "someone", "icon": "https://img.example.com/b.png"}),
        )
        .await;
    sns.assert_success(200);
    assert_eq!((sns.body["pk"].as_str(), sns.body["username"].as_str()), (Some("20"), Some("wechat_user")));

    // The verified phone logs into its account by SMS; the unverified one is contact data only.
    let (national, e164) = &export.verified;
    api.post("/phonelogin/", json!({"phone": national})).await.assert_success(200);
    let code = latest_code(e164).await;
    let sms = api.get(&format!("/phonelogin/?phone={national}&captcha={code}")).await;
    sms.assert_success(200);
    assert_eq!(sms.body["pk"], "21");
    assert_eq!(sms.body["phone"], e164.as_str());
    let (national, e164) = &export.unverified;
    api.post("/phonelogin/", json!({"phone": national})).await.assert_success(200);
    let code = latest_code(e164).await;
    let other = api.get(&format!("/phonelogin/?phone={national}&captcha={code}")).await;
    assert!(other.status == 200 || other.status == 201, "{}", other.body);
    assert_ne!(other.body["pk"], "22", "an unverified phone never routes into its account");

    // Rooms keep their pks; the active ones are listed and counted exactly.
    let list = api.get("/rooms/").await;
    list.assert_success(200);
    let pks: Vec<&str> = list.body["results"].as_array().unwrap().iter().map(|r| r["pk"].as_str().unwrap()).collect();
    assert_eq!(pks, ["3", "4"]);
    assert_eq!(list.body["total"], "2");
    assert_eq!(list.body["results"][0]["roomid"], "7001");
    assert_eq!(api.get("/rooms/77/").await.body["room_alias"], "quiet");

    // The owner changes its room; the ownerless room is nobody's to change.
    let owner = login(&api, "legacy0", MD5.0).await;
    let t = owner.str("token").to_owned();
    api.put("/rooms/3/", json!({"token": t, "active": false})).await.assert_success(200);
    api.put("/rooms/4/", json!({"token": t, "active": false})).await.assert_fail(403);
    api.send(reqwest::Method::DELETE, "/rooms/4/", Some(json!({"token": t}))).await.assert_fail(403);
    assert_eq!(api.get("/rooms/").await.body["total"], "1");

    // Numbers handed out after the import are above every imported one.
    let fresh = api.register(&unique("new")).await;
    let pk: u64 = fresh["pk"].as_str().unwrap().parse().unwrap();
    let roomid: u64 = fresh["roomid"].as_str().unwrap().parse().unwrap();
    assert!(pk > 900 && roomid > 9100, "pk {pk}, roomid {roomid}");
    let room = api.post("/rooms/", json!({"token": fresh["token"], "room_alias": unique("r"), "active": true})).await;
    room.assert_success(201);
    let room_pk: u64 = room.body["pk"].as_str().unwrap().parse().unwrap();
    let room_number: u64 = room.body["roomid"].as_str().unwrap().parse().unwrap();
    assert!(room_pk > 77 && room_number > 9100, "room pk {room_pk}, number {room_number}");
    // An imported name is taken like any registered one, NFKC included.
    let taken =
        api.post("/users/", json!({"username": "ｌｅｇａｃｙ０", "password": "password123", "nickname": "n"})).await;
    taken.assert_fail(409);
}

#[tokio::test]
async fn a_rerun_changes_nothing_and_nothing_made_after_the_cut_over_is_replaced() {
    let api = TestApi::start().await;
    let export = the_export();
    // An account and a room made here before the import holds a pk, a name and an alias the
    // export also has: the import refuses those lines and leaves both as they are.
    let here = api.register("legacy3").await;
    let here_pk = here["pk"].as_str().unwrap().to_owned();
    let mut users = std::fs::read_to_string(export.dir.join("users.jsonl")).unwrap();
    users.push_str(&format!("{}\n", user(here_pk.parse().unwrap(), "someone_else", MD5.1)));
    std::fs::write(export.dir.join("users.jsonl"), users).unwrap();
    let room =
        api.post("/rooms/", json!({"token": here["token"], "room_alias": "quiet", "active": true})).await.body.clone();
    let before_here = api.all_items().await;
    assert_eq!(room["room_alias"], "quiet");

    let first = import(&api, &export.dir).await;
    assert_eq!((first.users, first.rejected), (8, 3), "{first:?}");
    let rejects = std::fs::read_to_string(export.dir.join("rejects.jsonl")).unwrap();
    let reasons: Vec<Value> = rejects.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(
        reasons,
        [
            json!({"file": "users.jsonl", "line": 4, "reason": "username_conflict"}),
            json!({"file": "users.jsonl", "line": 10, "reason": "duplicate_pk"}),
            json!({"file": "rooms.jsonl", "line": 3, "reason": "duplicate_alias"}),
        ]
    );
    login(&api, "legacy3", "password123").await.assert_success(200);
    assert_eq!(api.get(&format!("/rooms/{}/", room["pk"].as_str().unwrap())).await.body["room_alias"], "quiet");
    let after = api.all_items().await;
    let mine = |items: &[String]| -> Vec<String> {
        items
            .iter()
            .filter(|i| i.contains(&format!("user#{here_pk}\"")) || i.contains("username#legacy3"))
            .cloned()
            .collect()
    };
    assert_eq!(mine(&before_here), mine(&after), "the account made here is untouched");

    let snapshot = api.all_items().await;
    let again = import(&api, &export.dir).await;
    assert_eq!(again, Summary { users: 0, rooms: 0, tokens: 0, rejected: 3, unchanged: 12 }, "{again:?}");
    assert_eq!(snapshot, api.all_items().await, "a rerun writes nothing");
}

#[tokio::test]
async fn every_reject_reason_names_its_file_and_line_and_a_dry_run_writes_nothing() {
    let api = TestApi::start().await;
    let dir = export_dir();
    let mut bad_phone = user(8, "badphone", "");
    bad_phone["phone"] = "12345".into();
    bad_phone["phone_verified"] = "true".into();
    write_jsonl(
        &dir,
        "users.jsonl",
        &[
            user(1, "alice", MD5.1),
            user(2, "ａｌｉｃｅ", MD5.1),
            json!({"pk": "1", "username": "bob", "roomid": "6001", "date_joined": "2017-01-01T00:00:00Z"}),
            user(3, "carol", "md5$$3ba6ec36b18f825433b3d33dae1d994b"),
            user(4, "dave", "bcrypt$2b$12$x"),
            user(5, "zero\u{200B}width", MD5.1),
            json!({"pk": "-6", "username": "neg", "roomid": "1", "date_joined": "2016-10-28T02:27:15Z"}),
            bad_phone,
        ],
    );
    std::fs::write(dir.join("users.jsonl"), std::fs::read_to_string(dir.join("users.jsonl")).unwrap() + "not json\n")
        .unwrap();
    write_jsonl(
        &dir,
        "rooms.jsonl",
        &[
            json!({"pk": "1", "roomid": "7001", "room_alias": "a"}),
            json!({"pk": "2", "roomid": "7002", "room_alias": "a"}),
            json!({"pk": "1", "roomid": "7003", "room_alias": "b"}),
            json!({"pk": "3", "roomid": "7004", "room_alias": "c", "owner_pk": "999"}),
        ],
    );
    write_jsonl(
        &dir,
        "tokens.jsonl",
        &[
            json!({"token": "ABCDEF0123456789ABCDEF0123456789", "pk": "1", "created": rfc3339(now())}),
            json!({"token": "abcdef0123456789abcdef0123456789", "pk": "1", "created": "yesterday"}),
            json!({"token": "abcdef0123456789abcdef0123456780", "pk": "404", "created": rfc3339(now())}),
        ],
    );
    let expected = [
        ("users.jsonl", 2, "username_conflict"),
        ("users.jsonl", 3, "duplicate_pk"),
        ("users.jsonl", 4, "invalid_hash"),
        ("users.jsonl", 5, "invalid_hash"),
        ("users.jsonl", 6, "invalid_field:username"),
        ("users.jsonl", 7, "invalid_field:pk"),
        ("users.jsonl", 8, "invalid_field:phone"),
        ("users.jsonl", 9, "invalid_json"),
        ("rooms.jsonl", 2, "duplicate_alias"),
        ("rooms.jsonl", 3, "duplicate_pk"),
        ("rooms.jsonl", 4, "invalid_field:owner_pk"),
        ("tokens.jsonl", 1, "invalid_field:token"),
        ("tokens.jsonl", 2, "invalid_field:created"),
        ("tokens.jsonl", 3, "invalid_field:pk"),
    ];
    let read_rejects = || -> Vec<(String, u64, String)> {
        std::fs::read_to_string(dir.join("rejects.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|v| {
                (v["file"].as_str().unwrap().into(), v["line"].as_u64().unwrap(), v["reason"].as_str().unwrap().into())
            })
            .collect()
    };
    let as_owned = |e: &[(&str, u64, &str)]| -> Vec<(String, u64, String)> {
        e.iter().map(|(f, l, r)| ((*f).into(), *l, (*r).into())).collect()
    };

    // A dry run finds what it can find without the tables, and writes nothing.
    let before = api.all_items().await;
    let dry = legacy_import::run(&api.ctx.store, &Options { dry_run: true, chunk: 100, ..options(&dir) }, &Quiet)
        .await
        .unwrap();
    assert_eq!(before, api.all_items().await, "a dry run writes nothing");
    assert!(dry.rejected >= 10, "{dry:?}");

    let summary = import(&api, &dir).await;
    assert_eq!(read_rejects(), as_owned(&expected));
    assert_eq!((summary.users, summary.rooms, summary.rejected), (1, 1, expected.len() as u64), "{summary:?}");
}

/// The import binary, as `make import` runs it (built here: cargo test builds no other
/// package's binaries; up to date under `make test`, which builds every binary first).
fn import_binary() -> PathBuf {
    let status = Command::new(env!("CARGO")).args(["build", "-q", "-p", "import", "--bin", "import"]).status().unwrap();
    assert!(status.success());
    let deps = std::env::current_exe().unwrap();
    deps.parent().unwrap().parent().unwrap().join("import")
}

fn binary(api: &TestApi, dir: &Path) -> Command {
    let t = api.ctx.store.tables();
    let mut cmd = Command::new(import_binary());
    cmd.args(["--from", dir.to_str().unwrap(), "--chunk", "10", "--concurrency", "4"])
        .args(["--users-table", &t.users, "--tokens-table", &t.tokens, "--rooms-table", &t.rooms])
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn summary_of(stdout: &str) -> Value {
    serde_json::from_str(stdout.lines().last().expect("a summary line")).expect("the last line is JSON")
}

#[tokio::test]
async fn a_killed_run_completes_when_run_again_and_no_legacy_hash_is_left_anywhere() {
    let api = TestApi::start().await;
    let dir = export_dir();
    let n = 120u64;
    let users: Vec<Value> = (1..=n).map(|pk| user(pk, &format!("bulk{pk}"), HASHES[(pk % 5) as usize].1)).collect();
    write_jsonl(&dir, "users.jsonl", &users);
    let rooms: Vec<Value> = (1..=40u64)
        .map(|pk| {
            json!({"pk": pk.to_string(), "roomid": (8000 + pk).to_string(), "room_alias": format!("room{pk}"),
                         "active": if pk % 2 == 0 { "true" } else { "false" }, "owner_pk": pk.to_string()})
        })
        .collect();
    write_jsonl(&dir, "rooms.jsonl", &rooms);

    // Killed after its second chunk: part of the users are in, no rooms yet.
    let mut child = binary(&api, &dir).spawn().unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut progress_lines = 0;
    for line in stderr.lines() {
        if line.unwrap().contains("users.jsonl") {
            progress_lines += 1;
            if progress_lines == 2 {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let users_in = api
        .scan(&api.ctx.store.tables().users)
        .await
        .iter()
        .filter(|i| matches!(&i["id"], AttributeValue::S(s) if s.starts_with("user#")))
        .count() as u64;
    assert!(users_in >= 20 && users_in < n, "killed halfway: {users_in} of {n} users in");

    let out = binary(&api, &dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let summary = summary_of(&stdout);
    assert_eq!(summary["users"].as_u64().unwrap() + summary["unchanged"].as_u64().unwrap(), n, "{summary}");
    assert_eq!(summary["rooms"], 40);
    assert_eq!(summary["rejected"], 0);
    let list = api.get("/rooms/?pageSize=100").await;
    assert_eq!(list.body["total"], "20", "the active count is exact");
    for pk in [1u64, 2, 3, 4, 5, n] {
        login(&api, &format!("bulk{pk}"), HASHES[(pk % 5) as usize].0).await.assert_success(200);
    }

    let again = binary(&api, &dir).output().unwrap();
    assert!(again.status.success());
    assert_eq!(
        summary_of(&String::from_utf8_lossy(&again.stdout)),
        json!({"users": 0, "rooms": 0, "tokens": 0, "rejected": 0, "unchanged": n + 40})
    );

    // No legacy hash, nor its digest, in any item or in the tool's output (RUST_LOG=trace).
    let mut everything = api.all_items().await.join("\n").to_ascii_lowercase();
    for run in [&out, &again] {
        everything.push_str(&String::from_utf8_lossy(&run.stdout).to_ascii_lowercase());
        everything.push_str(&String::from_utf8_lossy(&run.stderr).to_ascii_lowercase());
    }
    for (_, hash) in HASHES {
        let digest = hash.rsplit('$').next().unwrap().to_ascii_lowercase();
        assert!(!everything.contains(&digest), "{hash} found in an item or a log line");
    }

    // Rejects make the exit code non-zero.
    write_jsonl(&dir, "users.jsonl", &[user(1, "bulk1", "not-a-hash")]);
    std::fs::remove_file(dir.join("rooms.jsonl")).unwrap();
    let rejected = binary(&api, &dir).output().unwrap();
    assert_eq!(rejected.status.code(), Some(1));
    assert_eq!(summary_of(&String::from_utf8_lossy(&rejected.stdout))["rejected"], 1);
}
