//! A stand-in for Apple's Sign in with Apple endpoints on 127.0.0.1: the JWKS at `/auth/keys`
//! (keys generated per run with the `openssl` CLI, so no RSA code lives in the tests), counting
//! requests, and able to go down or rotate its keys; `/auth/token` and `/auth/revoke`, which
//! check the ES256 client secret against the team key's public half and record what they got. Identity tokens are signed here with the
//! same JWT crate the server verifies with.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine;
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};
use shared::Config;
use tokio::net::TcpListener;

pub const CLIENT_ID: &str = "com.example.mobileapp";
pub const TEAM_ID: &str = "A1B2C3D4E5";
pub const KEY_ID: &str = "KEY1234567";
/// An authorization code the stand-in accepts (once each is enough for the tests).
pub const GOOD_CODE: &str = "c1f0a2b3c4d5e6f70.0.mrq.GOOD";

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("openssl").args(args).output().expect("openssl CLI");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The team's Sign in with Apple key (.p8: a P-256 key in PKCS#8 PEM), and its public half.
pub struct TeamKey {
    pub private_pem: String,
    public_pem: Vec<u8>,
}

pub fn team_key() -> &'static TeamKey {
    static KEY: OnceLock<TeamKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("apple-team-{}.p8", std::process::id()));
        let p = path.to_str().unwrap();
        openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p]);
        let public_pem = openssl(&["pkey", "-in", p, "-pubout"]);
        let private_pem = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        TeamKey { private_pem, public_pem }
    })
}

/// An RSA key pair as Apple has them: a `kid`, the private half to sign, the public half as a JWK.
pub struct AppleKey {
    pub kid: String,
    private_pem: Vec<u8>,
    modulus: String,
}

impl AppleKey {
    fn generate(kid: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("apple-key-{}-{kid}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key.pem");
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl").args(args).output().expect("openssl CLI");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            out.stdout
        };
        let path_s = path.to_str().unwrap();
        run(&["genrsa", "-traditional", "-out", path_s, "2048"]);
        let modulus = String::from_utf8(run(&["rsa", "-in", path_s, "-noout", "-modulus"])).unwrap();
        let hex_n = modulus.trim().trim_start_matches("Modulus=");
        let bytes: Vec<u8> =
            (0..hex_n.len()).step_by(2).map(|i| u8::from_str_radix(&hex_n[i..i + 2], 16).unwrap()).collect();
        let private_pem = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        AppleKey {
            kid: kid.to_owned(),
            private_pem,
            modulus: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        }
    }

    pub fn jwk(&self) -> Value {
        json!({"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": self.modulus, "e": "AQAB"})
    }

    /// `claims` signed RS256 with this key, the header naming `kid`.
    pub fn sign_as(&self, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        encode(&header, claims, &EncodingKey::from_rsa_pem(&self.private_pem).unwrap()).unwrap()
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, claims)
    }
}

/// Two keys per test process (key generation is the slow part): the current one and the next.
pub fn keys() -> &'static [AppleKey; 2] {
    static KEYS: OnceLock<[AppleKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| [AppleKey::generate("W6WcOKB"), AppleKey::generate("fh6Bs8C")])
}

/// The claims of a genuine identity token for user `sub`, valid for 10 minutes.
pub fn claims(sub: &str) -> Value {
    let now = shared::clock::now_unix();
    json!({
        "iss": "https://appleid.apple.com",
        "aud": CLIENT_ID,
        "exp": now + 600,
        "iat": now,
        "sub": sub,
        "c_hash": "x3kO4q2cyfF0Cmk1Q2O2gQ",
        "email": format!("{sub}@privaterelay.appleid.com"),
        "email_verified": true,
        "is_private_email": true,
        "auth_time": now,
        "nonce_supported": true,
    })
}

struct State {
    jwks: Mutex<Value>,
    down: AtomicBool,
    key_requests: AtomicUsize,
    /// Form parameters of every accepted `/auth/token` and `/auth/revoke` call.
    token_calls: Mutex<Vec<HashMap<String, String>>>,
    revoke_calls: Mutex<Vec<HashMap<String, String>>>,
}

/// Apple's check of a client secret: ES256 by the team's key `kid`, from the team, for Apple,
/// for the client id of the call, at most 6 months long.
fn client_secret_ok(params: &HashMap<String, String>) -> bool {
    let (Some(secret), Some(client_id)) = (params.get("client_secret"), params.get("client_id")) else {
        return false;
    };
    let Ok(header) = decode_header(secret) else { return false };
    if header.alg != Algorithm::ES256 || header.kid.as_deref() != Some(KEY_ID) {
        return false;
    }
    let mut v = Validation::new(Algorithm::ES256);
    v.set_issuer(&[TEAM_ID]);
    v.set_audience(&["https://appleid.apple.com"]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub", "iat"]);
    let Ok(key) = DecodingKey::from_ec_pem(&team_key().public_pem) else { return false };
    match decode::<Value>(secret, &key, &v) {
        Ok(t) => {
            let (iat, exp) = (t.claims["iat"].as_u64().unwrap_or(0), t.claims["exp"].as_u64().unwrap_or(u64::MAX));
            t.claims["sub"] == client_id.as_str() && exp > iat && exp - iat <= 15_777_000
        }
        Err(_) => false,
    }
}

pub struct AppleStandIn {
    pub base: String,
    state: Arc<State>,
}

impl AppleStandIn {
    /// Serving the first key only.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            jwks: Mutex::new(json!({"keys": [keys()[0].jwk()]})),
            down: AtomicBool::new(false),
            key_requests: AtomicUsize::new(0),
            token_calls: Mutex::new(Vec::new()),
            revoke_calls: Mutex::new(Vec::new()),
        });
        let serving = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let state = Arc::clone(&serving);
                tokio::spawn(async move {
                    let Some(req) = crate::stand_in::read_request(&mut stream).await else { return };
                    let (status, body) = match (req.method.as_str(), req.path.as_str()) {
                        _ if state.down.load(Ordering::SeqCst) => {
                            state.key_requests.fetch_add(usize::from(req.path == "/auth/keys"), Ordering::SeqCst);
                            (503, "Service Unavailable".to_owned())
                        }
                        ("GET", "/auth/keys") => {
                            state.key_requests.fetch_add(1, Ordering::SeqCst);
                            (200, state.jwks.lock().unwrap().to_string())
                        }
                        ("POST", "/auth/token" | "/auth/revoke") if !client_secret_ok(&req.params) => {
                            (400, json!({"error": "invalid_client"}).to_string())
                        }
                        ("POST", "/auth/token") => {
                            let code = req.params.get("code").cloned().unwrap_or_default();
                            let grant = req.params.get("grant_type").map(String::as_str);
                            if code != GOOD_CODE || grant != Some("authorization_code") {
                                (400, json!({"error": "invalid_grant"}).to_string())
                            } else {
                                state.token_calls.lock().unwrap().push(req.params.clone());
                                let answer = json!({"access_token": "a0b1c2", "token_type": "Bearer", "expires_in": 3600,
                                    "refresh_token": format!("r_{code}"), "id_token": "eyJ..."});
                                (200, answer.to_string())
                            }
                        }
                        ("POST", "/auth/revoke") => {
                            state.revoke_calls.lock().unwrap().push(req.params.clone());
                            (200, String::new())
                        }
                        _ => (404, "Not Found".to_owned()),
                    };
                    crate::stand_in::write_answer(&mut stream, status, "application/json", body.as_bytes()).await;
                });
            }
        });
        AppleStandIn { base, state }
    }

    pub fn configure(&self, c: &mut Config) {
        c.sns.verify = true;
        c.sns.apple.api_base = self.base.clone();
        c.sns.apple.client_ids = vec!["com.example.other".into(), CLIENT_ID.into()];
    }

    /// The team credentials of the code exchange and revocation, as an operator would set them.
    pub fn configure_credentials(&self, c: &mut Config) {
        c.sns.apple.team_id = TEAM_ID.into();
        c.sns.apple.key_id = KEY_ID.into();
        c.sns.apple.private_key = Some(team_key().private_pem.clone());
    }

    pub fn token_calls(&self) -> Vec<HashMap<String, String>> {
        self.state.token_calls.lock().unwrap().clone()
    }

    pub fn revoke_calls(&self) -> Vec<HashMap<String, String>> {
        self.state.revoke_calls.lock().unwrap().clone()
    }

    /// Apple rotates: from now on only the second key is published.
    pub fn rotate(&self) {
        *self.state.jwks.lock().unwrap() = json!({"keys": [keys()[1].jwk()]});
    }

    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    pub fn key_requests(&self) -> usize {
        self.state.key_requests.load(Ordering::SeqCst)
    }
}
