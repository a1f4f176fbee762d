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

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use api_tests::replay::{self, Live, SEQUENCE};
use api_tests::{sdk_config, unique};
use local_api::template::Template;
use serde_json::Value;
use shared::config::Tables;

/// One `AWS::Serverless::Function` of the template, as Lambda would run it.
#[derive(Debug)]
struct Lambda {
    logical_id: String,
    crate_name: String,
    memory_mb: u64,
    timeout_s: u64,
    env: BTreeMap<String, String>,
}

/// Every function of the template with its Globals merged in and its environment resolved the
/// way CloudFormation would with the parameters' defaults, tables named as in DynamoDB Local.
fn lambdas(template: &Template, tables: &Tables) -> Vec<Lambda> {
    let root = template.root();
    let globals = &root["Globals"]["Function"];
    template
        .resources_of_type("AWS::Serverless::Function")
        .map(|(id, f)| {
            let props = &f["Properties"];
            let code_uri = props["CodeUri"].as_str().unwrap_or_else(|| panic!("{id}: CodeUri"));
            let setting = |name: &str, default: u64| props[name].as_u64().or(globals[name].as_u64()).unwrap_or(default);
            let mut env = BTreeMap::new();
            for vars in [&globals["Environment"]["Variables"], &props["Environment"]["Variables"]] {
                for (name, value) in vars.as_object().into_iter().flatten() {
                    match resolve(root, tables, value) {
                        Some(v) => env.insert(name.clone(), v),
                        None => env.remove(name),
                    };
                }
            }
            Lambda {
                logical_id: id.to_owned(),
                crate_name: code_uri.trim_start_matches("functions/").trim_end_matches('/').to_owned(),
                memory_mb: setting("MemorySize", 128),
                timeout_s: setting("Timeout", 3),
                env,
            }
        })
        .collect()
}

/// A template value as a string; `None` for `AWS::NoValue` (the variable is left out).
fn resolve(root: &Value, tables: &Tables, v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(o) if o.len() == 1 => {
            let (function, arg) = o.iter().next().unwrap();
            match function.as_str() {
                "Ref" => {
                    let name = arg.as_str().unwrap();
                    if name == "AWS::NoValue" {
                        None
                    } else if root["Resources"][name]["Type"] == "AWS::DynamoDB::Table" {
                        Some(local_api::tables::local_name(tables, name).unwrap().to_owned())
                    } else {
                        Some(parameter_default(root, name))
                    }
                }
                "Fn::If" => {
                    let [cond, then, otherwise] = arg.as_array().map(Vec::as_slice).unwrap_or_default() else {
                        panic!("malformed Fn::If: {v}")
                    };
                    let chosen = if condition(root, cond.as_str().unwrap()) { then } else { otherwise };
                    resolve(root, tables, chosen)
                }
                _ => panic!("tests/lambda_rie.rs cannot resolve {v} yet: teach resolve() this function"),
            }
        }
        other => panic!("tests/lambda_rie.rs cannot resolve {other}"),
    }
}

fn parameter_default(root: &Value, name: &str) -> String {
    match &root["Parameters"][name]["Default"] {
        Value::String(s) => s.clone(),
        Value::Null => panic!("!Ref {name}: neither a table nor a parameter with a default"),
        other => other.to_string(),
    }
}

fn condition(root: &Value, name: &str) -> bool {
    let c = &root["Conditions"][name];
    assert!(!c.is_null(), "condition {name} is not defined");
    evaluate(root, c)
}

/// Conditions over parameters, with their defaults (as deployed without overrides).
fn evaluate(root: &Value, v: &Value) -> bool {
    let (function, arg) = v.as_object().and_then(|o| o.iter().next()).unwrap_or_else(|| panic!("condition {v}"));
    let args = || arg.as_array().unwrap_or_else(|| panic!("condition {v}")).iter();
    let scalar = |x: &Value| match x {
        Value::Object(o) if o.contains_key("Ref") => parameter_default(root, o["Ref"].as_str().unwrap()),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match function.as_str() {
        "Fn::Not" => !evaluate(root, &arg[0]),
        "Fn::And" => args().all(|c| evaluate(root, c)),
        "Fn::Or" => args().any(|c| evaluate(root, c)),
        "Fn::Equals" => scalar(&arg[0]) == scalar(&arg[1]),
        "Condition" => condition(root, arg.as_str().unwrap()),
        _ => panic!("tests/lambda_rie.rs cannot evaluate condition {v} yet"),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `aws-lambda-rie` running one function's binary, in its own process group (the runtime
/// process it starts on the first invoke belongs to it), killed whole on drop.
struct Emulator {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Emulator {
    fn start(rie: &Path, binary: &Path, lambda: &Lambda) -> Emulator {
        let (api_port, runtime_port) = (free_port(), free_port());
        let log = std::env::temp_dir().join(format!("lambda-rie-{}-{}.log", lambda.crate_name, std::process::id()));
        let out = File::create(&log).unwrap();
        let child = Command::new(rie)
            .arg("--runtime-interface-emulator-address")
            .arg(format!("127.0.0.1:{api_port}"))
            .arg("--runtime-api-address")
            .arg(format!("127.0.0.1:{runtime_port}"))
            .arg(binary)
            .envs(&lambda.env)
            .env("AWS_LAMBDA_FUNCTION_NAME", &lambda.logical_id)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", lambda.memory_mb.to_string())
            .env("AWS_LAMBDA_FUNCTION_TIMEOUT", lambda.timeout_s.to_string())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", rie.display()));
        let mut emulator = Emulator { child, url: format!("http://127.0.0.1:{api_port}"), log };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", api_port)).is_err() {
            if let Some(status) = emulator.child.try_wait().unwrap() {
                panic!("aws-lambda-rie exited ({status}) for {}:\n{}", lambda.crate_name, emulator.output());
            }
            assert!(start.elapsed() < Duration::from_secs(20), "aws-lambda-rie not listening:\n{}", emulator.output());
            std::thread::sleep(Duration::from_millis(20));
        }
        emulator
    }

    async fn invoke(&self, http: &reqwest::Client, event: String) -> Value {
        let resp = http
            .post(format!("{}/2015-03-31/functions/function/invocations", self.url))
            .body(event)
            .send()
            .await
            .unwrap_or_else(|e| panic!("invoke: {e}\n{}", self.output()));
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "emulator answered {status}: {text}\n{}", self.output());
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not an API Gateway proxy response ({e}): {text}"))
    }

    /// The runtime process the emulator started (the function's binary).
    fn runtime_pid(&self) -> Option<u32> {
        let parent = self.child.id().to_string();
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?;
            (ppid == parent).then_some(pid)
        })
    }

    /// Peak resident memory of the runtime process (VmHWM), in KiB.
    fn runtime_peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.runtime_pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the emulator and its runtime; returns everything they printed.
    fn stop(mut self) -> String {
        self.kill();
        let out = self.output();
        let _ = std::fs::remove_file(&self.log);
        out
    }

    fn kill(&mut self) {
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

/// What one function's run showed.
struct Figures {
    /// The runtime's Init phase, from the emulator's `INIT REPORT(durationMs: ...)`. The REPORT
    /// line's own `Init Duration` is not it: the emulator measures only its own bookkeeping.
    init_ms: f64,
    /// `Init Duration` of the first REPORT line.
    report_init_ms: f64,
    /// `Duration` of each invoke.
    durations_ms: Vec<f64>,
    /// `Max Memory Used` of the REPORT lines: the emulator prints the configured memory size
    /// there, so the real figure is the runtime's peak RSS beside it.
    report_max_memory_mb: u64,
    peak_rss_kib: Option<u64>,
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = &line[line.find(name)? + name.len()..];
    rest.split_whitespace().next()
}

fn figures(output: &str, peak_rss_kib: Option<u64>) -> Figures {
    let init_ms = output
        .lines()
        .find_map(|l| l.split_once("INIT REPORT(durationMs:").map(|(_, r)| r.trim().trim_end_matches(')').to_owned()))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no INIT REPORT in the emulator's output:\n{output}"));
    let reports: Vec<&str> = output.lines().filter(|l| l.starts_with("REPORT RequestId:")).collect();
    assert!(!reports.is_empty(), "no REPORT line in the emulator's output:\n{output}");
    let num = |l: &str, name: &str| field(l, name).and_then(|v| v.parse::<f64>().ok());
    Figures {
        init_ms,
        report_init_ms: num(reports[0], "Init Duration:").unwrap_or_else(|| panic!("no Init Duration: {}", reports[0])),
        durations_ms: reports
            .iter()
            .map(|l| num(l, "\tDuration:").unwrap_or_else(|| panic!("no Duration: {l}")))
            .collect(),
        report_max_memory_mb: num(reports[0], "Max Memory Used:")
            .unwrap_or_else(|| panic!("no Max Memory Used: {}", reports[0])) as u64,
        peak_rss_kib,
    }
}

/// Where the function binaries are: `LAMBDA_RIE_BIN_DIR`, else the profile directory this test
/// was built into (`target/debug/deps/lambda_rie-*` -> `target/debug`).
fn binary_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("LAMBDA_RIE_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

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
    // What an operator passes at deploy time: the captcha key (no default), and WeChat's base
    // URL pointed at a stand-in that vouches for the sns_login sample.
    let providers = replay::stand_in_wechat().await;
    template.override_parameter("CaptchaSecret", "lambda-rie-test-captcha-secret-0123456789");
    template.override_parameter("WeChatApiBase", &providers.wechat.base);
    let tables = Tables::local(&unique("rie"));
    let lambdas = lambdas(&template, &tables);
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

    let ddb = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    local_api::tables::create_all(&ddb, &template, &tables).await.expect("create tables");

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
    for lambda in &lambdas {
        let emulator = running.remove(&lambda.crate_name).unwrap();
        let peak = emulator.runtime_peak_rss_kib();
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
}
