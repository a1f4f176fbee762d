//! `make bench`, part 2: cold starts under AWS's Runtime Interface Emulator, printed, never
//! asserted. Arguments: `label=dir` sets of release binaries (scripts/bench.sh builds each
//! function alone, as `sam build` does). Every binary runs in `BENCH_SANDBOXES` fresh sandboxes
//! (default 9), each serving one cold and `BENCH_WARM` (default 30) warm requests of its own
//! kind, against tables prepared in DynamoDB Local; medians are printed:
//! - init: the emulator's `INIT REPORT(durationMs)` (the runtime's Init phase);
//! - first: `Duration` of the first request (the cold one); cold wall: Init + first request as
//!   the caller waits for them (client-side, emulator overhead included);
//! - warm: median `Duration` of the warm requests;
//! - peak RSS: the runtime's VmHWM after all of them;
//! - size: the binary as built (the release profile strips it); zipped: `zip -9`.
//!
//! `floor` (hello-world lambda_http) and `getitem` (one DynamoDB client, one GetItem) come from
//! bench-lambdas/ and give the floor and the SDK's own share.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use api_tests::replay::{self, Live, SAMPLE_PHONE};
use api_tests::rie::{figures, lambdas, Emulator, Lambda};
use api_tests::{sdk_config, unique};
use local_api::template::Template;
use serde_json::Value;
use shared::config::Tables;
use shared::{Config, Context, Function};

const CAPTCHA_SECRET: &str = "cold-start-bench-captcha-secret-0123456789";

/// Median of one binary's sandboxes.
#[derive(Default)]
struct Row {
    init_ms: f64,
    first_ms: f64,
    cold_wall_ms: f64,
    warm_ms: f64,
    peak_rss_mib: f64,
    size: u64,
    zipped: u64,
    statuses: BTreeSet<u16>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn zipped_size(bin: &Path) -> u64 {
    let zip = std::env::temp_dir().join(format!("cold-start-{}.zip", std::process::id()));
    let _ = std::fs::remove_file(&zip);
    let ok = Command::new("zip").arg("-9").arg("-q").arg("-j").arg(&zip).arg(bin).status().is_ok_and(|s| s.success());
    let size = if ok { std::fs::metadata(&zip).map(|m| m.len()).unwrap_or(0) } else { 0 };
    let _ = std::fs::remove_file(&zip);
    size
}

/// State the requests of the bench need: the users, tokens and codes the sample events name.
struct Bench {
    ctx: Context,
    /// The stand-in WeChat the sns_login function asks; lives as long as the bench.
    _providers: api_tests::stand_in::StandIns,
    http: reqwest::Client,
    alice_token: String,
    bob_token: String,
    bob_password_changed: bool,
    n: usize,
}

/// A sample event with fields of its JSON body replaced.
fn with_body(raw: &str, fields: &[(&str, &str)]) -> String {
    let mut event: Value = serde_json::from_str(raw).unwrap();
    let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    for (k, v) in fields {
        body[*k] = Value::String((*v).to_owned());
    }
    event["body"] = Value::String(body.to_string());
    event.to_string()
}

impl Bench {
    /// Runs a sample event in process, as `function`; returns the response body.
    async fn local(&self, function: Function, raw: &str) -> Value {
        let request = lambda_http::request::from_str(raw).unwrap();
        let response = shared::http::respond(&self.ctx, function, request).await;
        match response.body() {
            lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }

    async fn token_of(&self, username: &str, password: &str) -> String {
        let raw = with_body(
            &replay::event("login", &Live::default()).await,
            &[("username", username), ("password", password)],
        );
        let body = self.local(Function::Login, &raw).await;
        body["token"].as_str().unwrap_or_else(|| panic!("login {username}: {body}")).to_owned()
    }

    async fn prepare() -> Bench {
        let providers = replay::stand_in_wechat().await;
        let mut config = Config { tables: Tables::local(&unique("cold")), ..Config::default() };
        providers.configure(&mut config);
        config.sms.code_secret = shared::secrets::Secret::new(CAPTCHA_SECRET);
        config.sms.resend_interval = std::time::Duration::ZERO;
        config.sms.phone_limit = u32::MAX;
        config.sms.ip_limit = u32::MAX;
        let ctx = Context::new(config, &sdk_config().await);
        let template = Template::load(&Template::default_path()).unwrap();
        local_api::tables::create_all(ctx.store.client(), &template, ctx.store.tables()).await.unwrap();
        local_api::tables::create_bucket(ctx.avatars.client(), shared::config::LOCAL_AVATAR_BUCKET).await.unwrap();
        let mut bench = Bench {
            ctx,
            _providers: providers,
            http: reqwest::Client::new(),
            alice_token: String::new(),
            bob_token: String::new(),
            bob_password_changed: false,
            n: 0,
        };
        // alice (pk 1, the user of the sample events) and bob, whose password the bench changes.
        let register = replay::event("register", &Live::default()).await;
        bench.local(Function::Register, &register).await;
        let bob = with_body(&register, &[("username", "bob"), ("phone", "18752000501"), ("email", "bob@example.com")]);
        bench.local(Function::Register, &bob).await;
        bench.alice_token = bench.token_of("alice", "password123").await;
        bench.bob_token = bench.token_of("bob", "password123").await;
        bench
    }

    /// The next request for `name`, one that succeeds like the first (fresh names, tokens, codes).
    async fn event(&mut self, name: &str) -> String {
        self.n += 1;
        let n = self.n;
        match name {
            "floor" | "getitem" | "rooms" => replay::event("rooms-list", &Live::default()).await,
            "register" => {
                let (username, phone, email) = (format!("r{n}"), format!("186{n:08}"), format!("r{n}@example.com"));
                let fields = [("username", username.as_str()), ("phone", phone.as_str()), ("email", email.as_str())];
                with_body(&replay::event("register", &Live::default()).await, &fields)
            }
            "login" => replay::event("login", &Live::default()).await,
            "logout" => {
                let token = self.token_of("alice", "password123").await;
                replay::event("logout", &Live::with_token(&token)).await
            }
            "user_info" => replay::event(name, &Live::with_token(&self.alice_token)).await,
            // The picture itself (a 16×16 PNG): decoded, re-encoded and written to moto's S3.
            "user_icon" => replay::event("user_icon-upload", &Live::with_token(&self.alice_token)).await,
            "user_password" => {
                let (old, new) = if self.bob_password_changed {
                    ("new-password456", "password123")
                } else {
                    ("password123", "new-password456")
                };
                let raw = replay::event("user_password", &Live::with_token(&self.bob_token)).await;
                with_body(&raw, &[("username", "bob"), ("old_password", old), ("password", new)])
            }
            "phone_captcha" => {
                let phone = format!("139{n:08}");
                with_body(&replay::event("phone_captcha", &Live::default()).await, &[("phone", phone.as_str())])
            }
            "phone_login" => {
                let send = with_body(
                    &replay::event("phone_captcha", &Live::default()).await,
                    &[("phone", &SAMPLE_PHONE[3..])],
                );
                self.local(Function::PhoneCaptcha, &send).await;
                replay::event("phone_login", &Live::default()).await
            }
            "sns_login" => replay::event("sns_login", &Live::default()).await,
            "token_refresh" => {
                // Each refresh token is used up by its request: a fresh login per request.
                let login = self.local(Function::Login, &replay::event("login", &Live::default()).await).await;
                let refresh = login["refresh_token"].as_str().unwrap_or_else(|| panic!("login: {login}"));
                replay::event("token_refresh", &Live { refresh: refresh.to_owned(), ..Live::default() }).await
            }
            // Not yet given a succeeding request of their own (a captcha per request, or an
            // account to delete): the sample event as it is, whatever it answers (the statuses
            // column says). Init and size do not depend on it.
            other => std::fs::read_to_string(replay::events_dir().join(format!("{other}.json")))
                .unwrap_or_else(|e| panic!("no bench request for {other}: {e}")),
        }
    }

    fn answered(&mut self, name: &str, response: &Value) {
        if name == "user_password" && response["statusCode"] == 200 {
            let body: Value = serde_json::from_str(response["body"].as_str().unwrap_or("{}")).unwrap();
            self.bob_token = body["token"].as_str().unwrap().to_owned();
            self.bob_password_changed = !self.bob_password_changed;
        }
    }

    async fn measure(&mut self, rie: &Path, bin: &Path, lambda: &Lambda, sandboxes: usize, warm: usize) -> Row {
        let (mut init, mut first, mut cold_wall, mut warm_ms, mut rss) = (vec![], vec![], vec![], vec![], vec![]);
        let mut statuses = BTreeSet::new();
        for _ in 0..sandboxes {
            let emulator = Emulator::start(rie, bin, lambda);
            for i in 0..=warm {
                let event = self.event(&lambda.crate_name).await;
                let start = Instant::now();
                let response = emulator.invoke(&self.http, event).await;
                if i == 0 {
                    cold_wall.push(start.elapsed().as_secs_f64() * 1000.0);
                }
                statuses.insert(response["statusCode"].as_u64().unwrap_or(0) as u16);
                self.answered(&lambda.crate_name, &response);
            }
            let peak = emulator.runtime_peak_rss_kib();
            let f = figures(&emulator.stop(), peak);
            init.push(f.init_ms);
            first.push(f.durations_ms[0]);
            warm_ms.push(median(f.durations_ms[1..].to_vec()));
            rss.push(peak.unwrap_or(0) as f64 / 1024.0);
        }
        Row {
            init_ms: median(init),
            first_ms: median(first),
            cold_wall_ms: median(cold_wall),
            warm_ms: median(warm_ms),
            peak_rss_mib: median(rss),
            size: std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0),
            zipped: zipped_size(bin),
            statuses,
        }
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

#[tokio::main]
async fn main() {
    let sets: Vec<(String, PathBuf)> = std::env::args()
        .skip(1)
        .map(|a| {
            let (label, dir) = a.split_once('=').unwrap_or_else(|| panic!("{a}: expected label=dir"));
            (label.to_owned(), PathBuf::from(dir))
        })
        .collect();
    assert!(!sets.is_empty(), "usage: cold-start label=dir [label=dir...]");
    let env_num = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (sandboxes, warm) = (env_num("BENCH_SANDBOXES", 9), env_num("BENCH_WARM", 30));
    let rie = PathBuf::from(std::env::var("AWS_LAMBDA_RIE").expect("AWS_LAMBDA_RIE (scripts/bench.sh sets it)"));

    let mut bench = Bench::prepare().await;
    let mut template = Template::load(&Template::default_path()).unwrap();
    template.override_parameter("WeChatApiBase", &bench.ctx.config.sns.wechat_base);
    // The captcha key is the template's generated secret: here one created in moto.
    let secret_arn = api_tests::create_secret(&api_tests::unique("bench-captcha-"), CAPTCHA_SECRET).await;
    let mut lambdas = lambdas(&template, bench.ctx.store.tables(), &secret_arn);
    for lambda in &mut lambdas {
        // One source address sends every captcha of the bench.
        lambda.env.insert("SMS_IP_LIMIT".into(), u32::MAX.to_string());
    }
    let reference = |name: &str| Lambda {
        logical_id: name.to_owned(),
        crate_name: name.to_owned(),
        memory_mb: 128,
        timeout_s: 3,
        env: lambdas[0].env.clone(),
    };
    let mut all = vec![reference("floor"), reference("getitem")];
    all.extend(lambdas);

    println!(
        "\n[cold-start] medians of {sandboxes} fresh sandboxes per binary, each 1 cold + {warm} warm requests (ms; MiB; MB = 10^6 bytes)"
    );
    let mut rows: BTreeMap<(String, String), Row> = BTreeMap::new();
    for (label, dir) in &sets {
        println!(
            "\n{label} ({})\n{:<14} {:>7} {:>7} {:>9} {:>7} {:>9} {:>10} {:>10} {:>10} {:>9}  statuses",
            dir.display(),
            "binary",
            "init",
            "first",
            "cold wall",
            "warm",
            "peak RSS",
            "size",
            "zipped",
            "init/floor",
            "zip/getitem"
        );
        for lambda in &all {
            let bin = dir.join(&lambda.crate_name);
            let bin = if bin.is_file() {
                bin
            } else if let Some((_, after)) = sets.iter().rev().find(|(_, d)| d.join(&lambda.crate_name).is_file()) {
                // The floor and GetItem function exist in the newest set only.
                after.join(&lambda.crate_name)
            } else {
                continue;
            };
            let row = bench.measure(&rie, &bin, lambda, sandboxes, warm).await;
            let floor = rows.get(&(label.clone(), "floor".to_owned())).map(|r| r.init_ms).unwrap_or(row.init_ms);
            let getitem = rows.get(&(label.clone(), "getitem".to_owned())).map(|r| r.zipped).unwrap_or(row.zipped);
            println!(
                "{:<14} {:>7.1} {:>7.1} {:>9.1} {:>7.2} {:>9.1} {:>10} {:>10} {:>9.2}x {:>10.2}x  {:?}",
                lambda.crate_name,
                row.init_ms,
                row.first_ms,
                row.cold_wall_ms,
                row.warm_ms,
                row.peak_rss_mib,
                mb(row.size),
                mb(row.zipped),
                row.init_ms / floor,
                row.zipped as f64 / getitem as f64,
                row.statuses
            );
            rows.insert((label.clone(), lambda.crate_name.clone()), row);
        }
    }
}
