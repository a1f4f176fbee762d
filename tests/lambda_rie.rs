//! Every function's real binary speaks the Lambda Runtime API. Each one runs under AWS's own
//! Runtime Interface Emulator (`aws-lambda-rie`, shipped in the aws-sam-cli package and found by
//! `make test` through `AWS_LAMBDA_RIE`), with the environment `template.yaml` gives it (table
//! names pointing at fresh tables in DynamoDB Local), and every sample event of `events/` is
//! POSTed to it in replay order; the API Gateway proxy responses are checked. Prints, per
//! function, the emulator's REPORT figures and what they hide (see `Figures`).
//!
//! `make test` builds the binaries first (`cargo build --workspace --bins`); this test fails,
//! never skips, when the emulator or a binary is missing. `LAMBDA_RIE_BIN_DIR` points it at other
//! builds of the same binaries (e.g. `target/release`) to measure them.

//!
//! It also holds the password functions' memory to one argon2id working area: login's peak RSS
//! after 30 warm logins stays under [`PASSWORD_FN_PEAK_RSS_MIB`] (it grew to 124 MiB when each
//! hash allocated its own 19 MiB; the figure is memory, not time).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use api_tests::replay::{self, Live, SEQUENCE};
use api_tests::rie::{binary_dir, figures, lambdas, Emulator};
use api_tests::{sdk_config, unique};
use local_api::template::Template;
use serde_json::Value;
use shared::config::Tables;

/// Baseline (about 10 MiB) + one 19 MiB argon2id area + slack; Lambda bills memory size.
const PASSWORD_FN_PEAK_RSS_MIB: f64 = 48.0;
/// Warm logins one sandbox serves before its peak memory is read.
const WARM_LOGINS: usize = 30;

/// Written straight to the terminal: cargo's capture would hide it on success.
fn report(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

#[tokio::test]
async fn every_function_binary_answers_its_sample_events_under_the_lambda_runtime_emulator() {
    let rie = PathBuf::from(std::env::var("AWS_LAMBDA_RIE").expect(
        "AWS_LAMBDA_RIE is not set: run the tests with `make test` (scripts/stack.sh install-sam installs the emulator)",
    ));
    assert!(rie.is_file(), "aws-lambda-rie not found at {}", rie.display());

    let mut template = Template::load(&Template::default_path()).unwrap();
    // What an operator passes at deploy time: WeChat's base URL pointed at a stand-in that
    // vouches for the sns_login sample. The captcha key is the template's generated secret,
    // here one created in moto's Secrets Manager, read by the SMS functions at cold start.
    let providers = replay::stand_in_wechat().await;
    template.override_parameter("WeChatApiBase", &providers.wechat.base);
    // The replay texts one phone twice in a row (bind, then reset).
    template.override_parameter("SmsResendSeconds", "0");
    // The sample events name accounts 1-3 and room 1 in their paths, the numbers a fresh stack
    // hands out one at a time; with blocks, each function binary (its own instance) would
    // reserve a block of its own and the phone sign-up would be account 11, not 2.
    template.override_parameter("IdBlockSize", "1");
    let tables = Tables::local(&unique("rie"));
    let secret_arn = api_tests::create_secret(&unique("rie-captcha-"), &format!("{:0>64}", unique("k"))).await;
    let lambdas = lambdas(&template, &tables, &secret_arn);
    assert!(!lambdas.is_empty(), "template.yaml deploys no function");
    let dir = binary_dir();
    for lambda in &lambdas {
        let bin = dir.join(&lambda.crate_name);
        assert!(
            bin.is_file(),
            "{} missing: build the function binaries first (`cargo build --workspace --bins`, which `make test` runs)",
            bin.display()
        );
    }
    // Every function is exercised, by every file of events/.
    replay::assert_sequence_covers_events();
    for lambda in &lambdas {
        assert!(
            SEQUENCE.iter().any(|(stem, _)| replay::function_of(stem).crate_name() == lambda.crate_name),
            "{} has no sample event in the replay",
            lambda.crate_name
        );
    }

    let sdk = sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    local_api::tables::create_all(&ddb, &template, &tables).await.expect("create tables");
    let s3 = aws_sdk_s3::Client::from_conf(shared::deadlines::s3(&sdk, true));
    local_api::tables::create_bucket(&s3, shared::config::LOCAL_AVATAR_BUCKET).await.expect("create bucket");

    let http = reqwest::Client::new();
    let mut running: BTreeMap<String, Emulator> = BTreeMap::new();
    let mut live = Live::default();
    for (stem, status) in SEQUENCE {
        let crate_name = replay::function_of(stem).crate_name();
        let lambda = lambdas.iter().find(|l| l.crate_name == crate_name).unwrap();
        let emulator = running
            .entry(crate_name.to_owned())
            .or_insert_with(|| Emulator::start(&rie, &dir.join(crate_name), lambda));
        let response = emulator.invoke(&http, replay::event(stem, &live).await).await;
        assert_eq!(response["statusCode"], *status, "{stem}: {response}\n{}", emulator.output());
        let body = response["body"].as_str().unwrap_or_default();
        if *status == 204 {
            assert!(body.is_empty(), "{stem}: a 204 carries no body: {response}");
            continue;
        }
        let body: Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{stem}: body is not JSON ({e}): {response}"));
        assert_eq!(body["code"], status.to_string(), "{stem}: {body}");
        assert_eq!(body["status"], "SUCCESS", "{stem}: {body}");
        live.update(&body);
        if *stem == "login" {
            for _ in 0..WARM_LOGINS {
                let again = emulator.invoke(&http, replay::event(stem, &live).await).await;
                assert_eq!(again["statusCode"], 200, "warm {stem}: {again}");
            }
        }
    }

    let mut table = format!(
        "\n[lambda_rie] {} ({} functions; init = INIT REPORT durationMs, peak RSS = runtime VmHWM)\n{:<16} {:>7} {:>9} {:>12} {:>20} {:>13} {:>10}\n",
        dir.display(),
        lambdas.len(),
        "function",
        "memory",
        "init ms",
        "REPORT init",
        "invoke ms",
        "REPORT max MB",
        "peak RSS"
    );
    let mut too_big = Vec::new();
    for lambda in &lambdas {
        let emulator = running.remove(&lambda.crate_name).unwrap();
        let peak = emulator.runtime_peak_rss_kib();
        if lambda.crate_name == "login" {
            let mib = peak.expect("login's peak RSS") as f64 / 1024.0;
            if mib > PASSWORD_FN_PEAK_RSS_MIB {
                too_big.push(format!("login: peak RSS {mib:.1} MiB after {WARM_LOGINS} warm logins"));
            }
        }
        let f = figures(&emulator.stop(), peak);
        let durations: Vec<String> = f.durations_ms.iter().map(|d| format!("{d:.1}")).collect();
        table += &format!(
            "{:<16} {:>5}MB {:>9.1} {:>10.2}ms {:>20} {:>13} {:>10}\n",
            lambda.crate_name,
            lambda.memory_mb,
            f.init_ms,
            f.report_init_ms,
            durations.join(" "),
            f.report_max_memory_mb,
            f.peak_rss_kib.map_or("?".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
        );
    }
    report(&table);
    assert!(too_big.is_empty(), "over {PASSWORD_FN_PEAK_RSS_MIB} MiB: {too_big:?}");
}
