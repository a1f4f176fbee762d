//! Stand-ins for the third-party login providers: one tiny HTTP/1.1 server per provider on
//! 127.0.0.1, answering exactly the documented shapes of WeChat `sns/auth`, QQ `oauth2.0/me`
//! and Weibo `oauth2/get_token_info`, plus the failures real providers show (slow, an HTML error
//! page, a cut answer). Raw TCP, so that a cut answer really is cut. Each counts the requests it
//! receives, so tests can prove that bad input never reached a provider.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use shared::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    WeChat,
    Qq,
    Weibo,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::WeChat, Kind::Qq, Kind::Weibo];

    pub fn login_type(self) -> &'static str {
        match self {
            Kind::WeChat => "1",
            Kind::Qq => "2",
            Kind::Weibo => "3",
        }
    }

    /// A realistic user id: WeChat openids are 28 characters, QQ's 32 hex, Weibo uids digits.
    pub fn subject(self, n: u32) -> String {
        match self {
            Kind::WeChat => format!("oXyZ1a2B3c4D5e6F7g8H9i{n:06}"),
            Kind::Qq => format!("6A1B2C3D4E5F60718293A4B5C6{n:06X}"),
            Kind::Weibo => format!("{}", 1_073_880_000u64 + u64::from(n)),
        }
    }

    /// The app id our function is configured with (WeChat's check has none: openids are per
    /// app already).
    pub fn our_app(self) -> &'static str {
        match self {
            Kind::WeChat => "",
            Kind::Qq => QQ_APP_ID,
            Kind::Weibo => WEIBO_APP_KEY,
        }
    }
}

pub const QQ_APP_ID: &str = "101234567";
pub const WEIBO_APP_KEY: &str = "1352222456";

/// How the stand-in answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The documented shapes.
    Normal,
    /// The documented shapes in their other spelling: QQ answers JSONP even to `fmt=json`,
    /// Weibo sends `uid` as a string and `expires_in` instead of `expire_in`.
    OtherSpelling,
    /// Answers normally, after this long.
    Slow(Duration),
    /// 200 with an HTML error page, as a misbehaving proxy would.
    Html,
    /// A success answer cut in half, Content-Length matching the cut body.
    TruncatedJson,
    /// Content-Length of the whole success answer, half of it sent, connection closed.
    CutConnection,
    /// 503 with a text body.
    ServerError,
}

struct Grant {
    subject: String,
    app: String,
}

struct State {
    kind: Kind,
    grants: Mutex<HashMap<String, Grant>>,
    mode: Mutex<Mode>,
    requests: AtomicUsize,
}

pub struct StandIn {
    pub kind: Kind,
    pub base: String,
    state: Arc<State>,
}

impl StandIn {
    pub async fn start(kind: Kind) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State {
            kind,
            grants: Mutex::new(HashMap::new()),
            mode: Mutex::new(Mode::Normal),
            requests: AtomicUsize::new(0),
        });
        let serving = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(Arc::clone(&serving), stream));
            }
        });
        StandIn { kind, base, state }
    }

    /// From now on `token` is a live token of user `subject`, issued to app `app`.
    pub fn grant(&self, token: &str, subject: &str, app: &str) {
        self.state.grants.lock().unwrap().insert(token.into(), Grant { subject: subject.into(), app: app.into() });
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }
}

/// The three stand-ins, and the config that points the function at them.
pub struct StandIns {
    pub wechat: StandIn,
    pub qq: StandIn,
    pub weibo: StandIn,
}

impl StandIns {
    pub async fn start() -> Self {
        StandIns {
            wechat: StandIn::start(Kind::WeChat).await,
            qq: StandIn::start(Kind::Qq).await,
            weibo: StandIn::start(Kind::Weibo).await,
        }
    }

    pub fn configure(&self, c: &mut Config) {
        c.sns.verify = true;
        c.sns.wechat_base = self.wechat.base.clone();
        c.sns.qq_base = self.qq.base.clone();
        c.sns.weibo_base = self.weibo.base.clone();
        c.sns.qq_app_id = QQ_APP_ID.into();
        c.sns.weibo_app_key = WEIBO_APP_KEY.into();
    }

    pub fn get(&self, kind: Kind) -> &StandIn {
        match kind {
            Kind::WeChat => &self.wechat,
            Kind::Qq => &self.qq,
            Kind::Weibo => &self.weibo,
        }
    }

    /// Requests received by all three.
    pub fn requests(&self) -> usize {
        Kind::ALL.iter().map(|k| self.get(*k).requests()).sum()
    }
}

pub(crate) struct Received {
    pub method: String,
    pub path: String,
    pub params: HashMap<String, String>,
}

async fn answer(state: Arc<State>, mut stream: TcpStream) {
    let Some(request) = read_request(&mut stream).await else { return };
    state.requests.fetch_add(1, Ordering::SeqCst);
    let mode = *state.mode.lock().unwrap();
    let (status, content_type, body) = match mode {
        Mode::Html => {
            (200, "text/html", "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>".into())
        }
        Mode::ServerError => (503, "text/plain", "Service Unavailable".into()),
        _ => reply(&state, &request, mode == Mode::OtherSpelling),
    };
    send_answer(&mut stream, mode, status, content_type, &body).await;
}

/// Writes an answer as `mode` says (slow, cut, truncated or whole) and closes the connection.
async fn send_answer(stream: &mut TcpStream, mode: Mode, status: u16, content_type: &str, body: &str) {
    if let Mode::Slow(delay) = mode {
        tokio::time::sleep(delay).await;
    }
    let (sent, length) = match mode {
        Mode::TruncatedJson => (&body[..body.len() / 2], body.len() / 2),
        Mode::CutConnection => (&body[..body.len() / 2], body.len()),
        _ => (body, body.len()),
    };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}; charset=utf-8\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n",
        if status == 200 { "OK" } else { "Error" }
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(sent.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The provider's documented answer to this request.
fn reply(state: &State, req: &Received, other_spelling: bool) -> (u16, &'static str, String) {
    let grants = state.grants.lock().unwrap();
    let token = req.params.get("access_token").map(String::as_str).unwrap_or("");
    let grant = grants.get(token);
    match (state.kind, req.method.as_str(), req.path.as_str()) {
        (Kind::WeChat, "GET", "/sns/auth") => {
            let openid = req.params.get("openid").map(String::as_str).unwrap_or("");
            let body = match grant {
                Some(g) if g.subject == openid => json!({"errcode": 0, "errmsg": "ok"}),
                Some(_) => json!({"errcode": 40003, "errmsg": "invalid openid rid: 6745a1c4-1a2b3c4d-5e6f7a8b"}),
                None => {
                    json!({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest rid: 6745a1c4-1a2b3c4d-5e6f7a8b"})
                }
            };
            (200, "application/json", body.to_string())
        }
        (Kind::Qq, "GET", "/oauth2.0/me") => {
            let body = match grant {
                Some(g) => json!({"client_id": g.app, "openid": g.subject}),
                None => json!({"error": 100016, "error_description": "access token check failed"}),
            };
            let json_asked = req.params.get("fmt").is_some_and(|f| f == "json");
            if json_asked && !other_spelling {
                (200, "application/json", body.to_string())
            } else {
                (200, "text/html", format!("callback( {body} );\n"))
            }
        }
        (Kind::Weibo, "POST", "/oauth2/get_token_info") => match grant {
            Some(g) if other_spelling => {
                let body = json!({"uid": g.subject, "appkey": g.app, "scope": null, "create_at": 1732613400, "expires_in": 157679471});
                (200, "application/json", body.to_string())
            }
            Some(g) => {
                let uid: serde_json::Value =
                    g.subject.parse::<u64>().map(Into::into).unwrap_or_else(|_| g.subject.clone().into());
                let body = json!({"uid": uid, "appkey": g.app, "scope": null, "create_at": 1732613400, "expire_in": 157679471});
                (200, "application/json", body.to_string())
            }
            None => {
                let body =
                    json!({"error": "invalid_access_token", "error_code": 21332, "request": "/oauth2/get_token_info"});
                (400, "application/json", body.to_string())
            }
        },
        _ => (404, "text/html", "<html><body>404 Not Found</body></html>".into()),
    }
}

/// One HTTP/1.1 request as the stand-ins need it: the request line, the headers and a
/// Content-Length body (the SDK and reqwest always send a length; no chunked bodies here).
pub(crate) struct RawRequest {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Reads one request; `None` when the peer closes first or sends over 64 KiB of headers.
pub(crate) async fn read_raw(stream: &mut TcpStream) -> Option<RawRequest> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(RawRequest { method, target, headers, body: buf[header_end..header_end + length].to_vec() })
}

/// The request with its query and form parameters merged.
pub(crate) async fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let raw = read_raw(stream).await?;
    let (path, query) = raw.target.split_once('?').unwrap_or((&raw.target, ""));
    let mut params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    params.extend(form_urlencoded::parse(&raw.body).into_owned());
    Some(Received { method: raw.method, path: path.to_owned(), params })
}

/// One whole HTTP/1.1 answer, then the connection closed (every stand-in answers once).
pub(crate) async fn write_answer(stream: &mut TcpStream, status: u16, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}

/// The legacy server's POST /login/ (seed-api-doc.md "3.Login": JSON in, the seed's answer
/// out), for lazy migration: known accounts answer 200 with their fields, anything else 401
/// with the seed's FAIL envelope; `Mode` brings the same failures as the providers'.
pub struct LegacyServer {
    pub base: String,
    state: Arc<LegacyState>,
}

struct LegacyState {
    /// username -> (password, the account's fields as the seed answers them).
    accounts: Mutex<HashMap<String, (String, serde_json::Value)>>,
    mode: Mutex<Mode>,
    requests: AtomicUsize,
}

impl LegacyServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(LegacyState {
            accounts: Mutex::new(HashMap::new()),
            mode: Mutex::new(Mode::Normal),
            requests: AtomicUsize::new(0),
        });
        let serving = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(legacy_answer(Arc::clone(&serving), stream));
            }
        });
        LegacyServer { base, state }
    }

    /// An account of the legacy server: `username` and `password` log in, and the answer
    /// carries `fields` (which name the account, normally that same username).
    pub fn add(&self, username: &str, password: &str, fields: serde_json::Value) {
        self.state.accounts.lock().unwrap().insert(username.into(), (password.into(), fields));
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Points lazy migration at this server.
    pub fn configure(&self, c: &mut Config) {
        c.legacy_api_base = self.base.clone();
    }
}

async fn legacy_answer(state: Arc<LegacyState>, mut stream: TcpStream) {
    let Some(request) = read_raw(&mut stream).await else { return };
    state.requests.fetch_add(1, Ordering::SeqCst);
    let mode = *state.mode.lock().unwrap();
    let asked: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
    let (status, content_type, body) = match mode {
        Mode::Html => (200, "text/html", "<html><body>502 Bad Gateway</body></html>".to_owned()),
        Mode::ServerError => (503, "text/plain", "Service Unavailable".to_owned()),
        _ if request.method != "POST" || request.target != "/login/" => (404, "text/html", "Not Found".to_owned()),
        _ => {
            let accounts = state.accounts.lock().unwrap();
            let name = asked["username"].as_str().unwrap_or("");
            match accounts.get(name) {
                Some((password, fields)) if asked["password"].as_str() == Some(password.as_str()) => {
                    let mut answer = fields.clone();
                    answer["status"] = "SUCCESS".into();
                    answer["code"] = "200".into();
                    answer["msg"] = "登录成功".into();
                    answer["token"] = "8ca6dd209e7f780229cdee74ef525dfe".into();
                    (200, "application/json", answer.to_string())
                }
                _ => {
                    let answer = json!({"status": "FAIL", "code": "401", "msg": "用户名或密码错误"});
                    (401, "application/json", answer.to_string())
                }
            }
        }
    };
    send_answer(&mut stream, mode, status, content_type, &body).await;
}
