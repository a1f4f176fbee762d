//! The captcha key: read from Secrets Manager (moto here) by its ARN, and refused inside Lambda
//! when it is the public development key. The refusal is checked on the real function
//! binaries (`make test` builds them), started as Lambda starts them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use api_tests::{create_secret, sdk_config, unique};
use shared::config::DEVELOPMENT_CAPTCHA_SECRET;

#[tokio::test]
async fn the_captcha_key_is_read_from_secrets_manager_and_checked() {
    let client = aws_sdk_secretsmanager::Client::new(&sdk_config().await);
    let value = format!("{:x>64}", unique("key"));
    let arn = create_secret(&unique("captcha-"), &value).await;
    assert_eq!(shared::secrets::fetch_with(&client, &arn).await.unwrap(), value);

    let short = create_secret(&unique("short-"), "too-short-for-an-hmac-key").await;
    let err = shared::secrets::captcha_key(shared::secrets::fetch_with(&client, &short).await.unwrap()).unwrap_err();
    assert!(err.contains("at least 32"), "{err}");
    assert!(!err.contains("too-short"), "errors never quote the value: {err}");

    let missing = shared::secrets::fetch_with(&client, "no-such-secret").await.unwrap_err();
    assert!(missing.contains("ResourceNotFoundException"), "{missing}");
}

#[tokio::test]
async fn the_apple_key_is_read_from_secrets_manager_and_must_be_a_pem_key() {
    let client = aws_sdk_secretsmanager::Client::new(&sdk_config().await);
    let pem = "-----BEGIN PRIVATE KEY-----
MIGTAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBHkwdwIBAQQg
-----END PRIVATE KEY-----
";
    let arn = create_secret(&unique("apple-"), pem).await;
    let fetched = shared::secrets::fetch_with(&client, &arn).await.unwrap();
    assert_eq!(shared::secrets::apple_key(fetched).unwrap(), pem);
    let wrong = create_secret(&unique("apple-wrong-"), "not-a-key-at-all-but-long-enough").await;
    let err = shared::secrets::apple_key(shared::secrets::fetch_with(&client, &wrong).await.unwrap()).unwrap_err();
    assert!(err.contains("not a PEM private key") && !err.contains("not-a-key"), "{err}");
}

/// target/debug (or LAMBDA_RIE_BIN_DIR), where `make test` built the function binaries.
fn binary(name: &str) -> PathBuf {
    let dir = match std::env::var_os("LAMBDA_RIE_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_exe().unwrap().parent().and_then(Path::parent).unwrap().to_path_buf(),
    };
    let bin = dir.join(name);
    assert!(bin.is_file(), "{} missing: `cargo build --workspace --bins` (make test does)", bin.display());
    bin
}

/// Starts a function binary with `env` (and the stack's endpoints), without the rest of a Lambda
/// environment: it stops at its own cold-start checks or at the runtime's. (exit success, stderr)
fn cold_start(name: &str, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(binary(name));
    cmd.env_remove("AWS_LAMBDA_FUNCTION_NAME")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("USERS_TABLE")
        .env_remove("TOKENS_TABLE")
        .env_remove("ROOMS_TABLE")
        .env_remove("CAPTCHA_SECRET")
        .env_remove("CAPTCHA_SECRET_ARN")
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// What the template gives every function (Globals), so that the checks below reach the key.
const TABLES: [(&str, &str); 3] = [("USERS_TABLE", "u"), ("TOKENS_TABLE", "t"), ("ROOMS_TABLE", "r")];
/// What the template gives the two functions that handle avatars (the others ignore them).
const AVATARS: [(&str, &str); 2] =
    [("AVATAR_BUCKET", "stack-avatarbucket"), ("AVATAR_BASE_URL", "https://d111111abcdef8.cloudfront.net")];

/// `AWS_LAMBDA_FUNCTION_NAME` = `function`, the template's table and bucket names, and `more`.
fn in_lambda<'a>(function: &'a str, more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    [("AWS_LAMBDA_FUNCTION_NAME", function)]
        .into_iter()
        .chain(TABLES)
        .chain(AVATARS)
        .chain(more.iter().copied())
        .collect()
}

#[tokio::test]
async fn functions_refuse_to_start_inside_lambda_without_their_table_names() {
    let key = "k".repeat(40);
    for function in ["rooms", "login", "phone_login"] {
        for missing in ["USERS_TABLE", "TOKENS_TABLE", "ROOMS_TABLE"] {
            let env: Vec<_> = in_lambda(function, &[("CAPTCHA_SECRET", &key)])
                .into_iter()
                .filter(|(name, _)| *name != missing)
                .collect();
            let (ok, stderr) = cold_start(function, &env);
            assert!(!ok && stderr.contains(&format!("{missing} must be set inside Lambda")), "{function}: {stderr}");
        }
    }
    // The functions that write or erase avatars need the bucket and its address as well.
    for function in ["user_icon", "account_delete"] {
        for (missing, _) in AVATARS {
            let env: Vec<_> = in_lambda(function, &[("CAPTCHA_SECRET", &key)])
                .into_iter()
                .filter(|(name, _)| *name != missing)
                .collect();
            let (ok, stderr) = cold_start(function, &env);
            assert!(!ok && stderr.contains(&format!("{missing} must be set inside Lambda")), "{function}: {stderr}");
        }
    }
    // Outside Lambda the local stack's names are the default: the binary goes on to the runtime.
    let (_, stderr) = cold_start("rooms", &[]);
    assert!(stderr.contains("Missing AWS_LAMBDA_"), "{stderr}");
}

#[tokio::test]
async fn sms_functions_refuse_to_start_inside_lambda_with_the_development_key() {
    let arn = create_secret(&unique("cold-"), &"s".repeat(48)).await;
    for function in ["phone_captcha", "phone_login", "phone_bind", "password_reset", "account_delete"] {
        let (ok, stderr) = cold_start(function, &in_lambda(function, &[]));
        assert!(!ok && stderr.contains("refused inside Lambda"), "{function}: {stderr}");
        let (ok, stderr) = cold_start(function, &in_lambda(function, &[("CAPTCHA_SECRET", "x")]));
        assert!(!ok && stderr.contains("at least 32"), "{function}: {stderr}");
        assert!(!stderr.contains(DEVELOPMENT_CAPTCHA_SECRET), "{function}: the key is never printed: {stderr}");

        // With the deployed key, or outside Lambda, the checks pass: the binary goes on to the
        // runtime's own start, which stops at the Lambda variables this test does not set.
        for env in [in_lambda(function, &[("CAPTCHA_SECRET_ARN", arn.as_str())]), vec![]] {
            let (ok, stderr) = cold_start(function, &env);
            assert!(!ok, "{function}: not a complete Lambda environment");
            assert!(stderr.contains("Missing AWS_LAMBDA_"), "{function} {env:?}: {stderr}");
        }
        let (_, stderr) = cold_start(function, &in_lambda(function, &[("CAPTCHA_SECRET_ARN", "nope")]));
        assert!(stderr.contains("GetSecretValue failed"), "{function}: {stderr}");
    }
    // Functions that never hash a code start without the key.
    let (_, stderr) = cold_start("rooms", &in_lambda("rooms", &[]));
    assert!(stderr.contains("Missing AWS_LAMBDA_"), "{stderr}");
}
