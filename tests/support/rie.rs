//! One function's binary under AWS's Runtime Interface Emulator (`aws-lambda-rie`, shipped in
//! the aws-sam-cli package), with the environment `template.yaml` gives it: used by
//! tests/lambda_rie.rs (every sample event through every binary) and the cold-start bench.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use local_api::template::Template;
use serde_json::Value;
use shared::config::Tables;

/// One `AWS::Serverless::Function` of the template, as Lambda would run it.
#[derive(Debug)]
pub struct Lambda {
    pub logical_id: String,
    pub crate_name: String,
    pub memory_mb: u64,
    pub timeout_s: u64,
    pub env: BTreeMap<String, String>,
}

/// Every function of the template with its Globals merged in and its environment resolved the
/// way CloudFormation would with the parameters' defaults, tables named as in DynamoDB Local.
pub fn lambdas(template: &Template, tables: &Tables, secret_arn: &str) -> Vec<Lambda> {
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
                    match resolve(root, tables, secret_arn, value) {
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
fn resolve(root: &Value, tables: &Tables, secret_arn: &str, v: &Value) -> Option<String> {
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
                    } else if root["Resources"][name]["Type"] == "AWS::SecretsManager::Secret" {
                        Some(secret_arn.to_owned())
                    } else if root["Resources"][name]["Type"] == "AWS::S3::Bucket" {
                        Some(shared::config::LOCAL_AVATAR_BUCKET.to_owned())
                    } else {
                        Some(parameter_default(root, name))
                    }
                }
                "Fn::If" => {
                    let [cond, then, otherwise] = arg.as_array().map(Vec::as_slice).unwrap_or_default() else {
                        panic!("malformed Fn::If: {v}")
                    };
                    let chosen = if condition(root, cond.as_str().unwrap()) { then } else { otherwise };
                    resolve(root, tables, secret_arn, chosen)
                }
                // The avatar URLs' CloudFront domain: moto's S3 stands in (the objects are there).
                "Fn::Sub" if arg.as_str().is_some_and(|a| a.contains(".DomainName}")) => {
                    let moto = std::env::var("AWS_ENDPOINT_URL_S3").unwrap_or_default();
                    Some(format!("{moto}/{}", shared::config::LOCAL_AVATAR_BUCKET))
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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `aws-lambda-rie` running one function's binary, in its own process group (the runtime
/// process it starts on the first invoke belongs to it), killed whole on drop.
pub struct Emulator {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Emulator {
    pub fn start(rie: &Path, binary: &Path, lambda: &Lambda) -> Emulator {
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

    pub async fn invoke(&self, http: &reqwest::Client, event: String) -> Value {
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
    pub fn runtime_pid(&self) -> Option<u32> {
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
    pub fn runtime_peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.runtime_pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the emulator and its runtime; returns everything they printed.
    pub fn stop(mut self) -> String {
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
pub struct Figures {
    /// The runtime's Init phase, from the emulator's `INIT REPORT(durationMs: ...)`. The REPORT
    /// line's own `Init Duration` is not it: the emulator measures only its own bookkeeping.
    pub init_ms: f64,
    /// `Init Duration` of the first REPORT line.
    pub report_init_ms: f64,
    /// `Duration` of each invoke.
    pub durations_ms: Vec<f64>,
    /// `Max Memory Used` of the REPORT lines: the emulator prints the configured memory size
    /// there, so the real figure is the runtime's peak RSS beside it.
    pub report_max_memory_mb: u64,
    pub peak_rss_kib: Option<u64>,
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = &line[line.find(name)? + name.len()..];
    rest.split_whitespace().next()
}

pub fn figures(output: &str, peak_rss_kib: Option<u64>) -> Figures {
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
pub fn binary_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("LAMBDA_RIE_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}
