//! The load generator behind `make load` and tests/load.rs: N virtual users, each registering
//! and then running a mobile app's mix (login, profile update, room create/update/list/get,
//! logout and login again) for T seconds against one local server; then the invariants that
//! must hold whatever the interleaving: every acknowledged write is readable, `total` equals the
//! rooms listed, no pk, roomid or alias twice, no 5xx. Timings are printed, never asserted.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{json, Value};

use crate::{unique, Method, TestApi};

pub struct LoadConfig {
    pub users: usize,
    pub duration: Duration,
}

/// What one endpoint saw.
#[derive(Default)]
pub struct EndpointStats {
    pub latencies: Vec<Duration>,
    pub statuses: BTreeMap<u16, usize>,
}

/// What a virtual user knows was acknowledged: the server answered success for it.
#[derive(Default)]
struct Acked {
    users: Vec<(u64, u64, String, String)>,   // pk, roomid, username, city
    rooms: HashMap<u64, (u64, String, bool)>, // pk -> roomid, alias, active
}

pub struct Report {
    pub elapsed: Duration,
    pub endpoints: BTreeMap<&'static str, EndpointStats>,
    /// Broken invariants; empty when the run is correct.
    pub violations: Vec<String>,
    pub users: usize,
    pub rooms: usize,
}

impl Report {
    pub fn requests(&self) -> usize {
        self.endpoints.values().map(|e| e.latencies.len()).sum()
    }

    pub fn server_errors(&self) -> usize {
        self.endpoints.values().flat_map(|e| e.statuses.iter()).filter(|(s, _)| **s >= 500).map(|(_, n)| n).sum()
    }

    pub fn print(&self) {
        let secs = self.elapsed.as_secs_f64();
        println!(
            "load: {} requests in {secs:.1} s = {:.1} req/s; {} accounts, {} rooms",
            self.requests(),
            self.requests() as f64 / secs,
            self.users,
            self.rooms
        );
        println!("{:<26} {:>6} {:>9} {:>9} {:>9}  statuses", "endpoint", "n", "p50 ms", "p95 ms", "p99 ms");
        for (name, e) in &self.endpoints {
            let mut l = e.latencies.clone();
            l.sort();
            let p = |q: f64| l[((l.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
            println!("{name:<26} {:>6} {:>9.1} {:>9.1} {:>9.1}  {:?}", l.len(), p(0.5), p(0.95), p(0.99), e.statuses);
        }
        println!("5xx: {}; invariants broken: {}", self.server_errors(), self.violations.len());
        for v in &self.violations {
            println!("  VIOLATION {v}");
        }
    }
}

/// xorshift: a reproducible mix per virtual user without another dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

struct User<'a> {
    api: &'a TestApi,
    stats: BTreeMap<&'static str, EndpointStats>,
    acked: Acked,
}

impl User<'_> {
    async fn call(&mut self, name: &'static str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let started = Instant::now();
        let answer = self.api.send(method, path, body).await;
        let stats = self.stats.entry(name).or_default();
        stats.latencies.push(started.elapsed());
        *stats.statuses.entry(answer.status).or_default() += 1;
        (answer.status, answer.body)
    }

    /// Logs in again; the new token, when the login succeeded.
    async fn login(&mut self, name: &str) -> Option<String> {
        let body = json!({"username": name, "password": "password123"});
        let (status, answer) = self.call("POST /login/", Method::POST, "/login/", Some(body)).await;
        (status == 200).then(|| answer["token"].as_str().unwrap_or_default().to_owned())
    }

    async fn run(mut self, seed: u64, until: Instant) -> (BTreeMap<&'static str, EndpointStats>, Acked) {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let name = unique("load");
        let (status, body) = self
            .call(
                "POST /users/",
                Method::POST,
                "/users/",
                Some(json!({"username": name, "password": "password123", "nickname": "n"})),
            )
            .await;
        if status != 200 {
            return (self.stats, self.acked);
        }
        let num = |v: &Value, f: &str| v[f].as_str().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
        let pk = num(&body, "pk");
        let mut token = body["token"].as_str().unwrap_or_default().to_owned();
        let mut city = String::new();
        let mut mine: Vec<u64> = Vec::new();
        while Instant::now() < until {
            match rng.below(100) {
                0..=14 => {
                    if let Some(fresh) = self.login(&name).await {
                        token = fresh;
                    }
                }
                15..=29 => {
                    let next = format!("c{}", rng.below(1_000_000));
                    let (s, _) = self
                        .call(
                            "PUT /users/{pk}/",
                            Method::PUT,
                            &format!("/users/{pk}/"),
                            Some(json!({"token": token, "city": next})),
                        )
                        .await;
                    if s == 200 {
                        city = next;
                    }
                }
                30..=44 => {
                    let alias = unique("la");
                    let active = rng.below(2) == 0;
                    let (s, b) = self
                        .call(
                            "POST /rooms/",
                            Method::POST,
                            "/rooms/",
                            Some(json!({"token": token, "room_alias": alias, "active": active})),
                        )
                        .await;
                    if s == 201 {
                        let room = num(&b, "pk");
                        mine.push(room);
                        self.acked.rooms.insert(room, (num(&b, "roomid"), alias, active));
                    }
                }
                45..=59 if !mine.is_empty() => {
                    let room = mine[rng.below(mine.len() as u64) as usize];
                    let active = rng.below(2) == 0;
                    let (s, _) = self
                        .call(
                            "PUT /rooms/{pk}/",
                            Method::PUT,
                            &format!("/rooms/{room}/"),
                            Some(json!({"token": token, "active": active})),
                        )
                        .await;
                    if s == 200 {
                        self.acked.rooms.get_mut(&room).expect("own room").2 = active;
                    }
                }
                60..=69 if !mine.is_empty() => {
                    let room = mine[rng.below(mine.len() as u64) as usize];
                    self.call("GET /rooms/{pk}/", Method::GET, &format!("/rooms/{room}/"), None).await;
                }
                70..=94 => {
                    let page = 1 + rng.below(3);
                    self.call("GET /rooms/", Method::GET, &format!("/rooms/?page={page}&pageSize=30"), None).await;
                }
                _ => {
                    self.call("POST /logout/", Method::POST, "/logout/", Some(json!({"token": token}))).await;
                    if let Some(fresh) = self.login(&name).await {
                        token = fresh;
                    }
                }
            }
        }
        self.acked.users.push((pk, num(&body, "roomid"), name, city));
        (self.stats, self.acked)
    }
}

pub async fn run(api: &TestApi, cfg: &LoadConfig) -> Report {
    let started = Instant::now();
    let until = started + cfg.duration;
    let seed = u64::from(std::process::id());
    let users = (0..cfg.users)
        .map(|i| User { api, stats: BTreeMap::new(), acked: Acked::default() }.run(seed + i as u64 * 7919, until));
    let results = join_all(users).await;
    let elapsed = started.elapsed();

    let mut endpoints: BTreeMap<&'static str, EndpointStats> = BTreeMap::new();
    let mut acked = Acked::default();
    for (stats, a) in results {
        for (name, s) in stats {
            let e = endpoints.entry(name).or_default();
            e.latencies.extend(s.latencies);
            for (status, n) in s.statuses {
                *e.statuses.entry(status).or_default() += n;
            }
        }
        acked.users.extend(a.users);
        acked.rooms.extend(a.rooms);
    }
    let violations = check(api, &acked).await;
    Report { elapsed, endpoints, violations, users: acked.users.len(), rooms: acked.rooms.len() }
}

/// The invariants, read back through the API after the load has stopped.
async fn check(api: &TestApi, acked: &Acked) -> Vec<String> {
    let mut v = Vec::new();
    let mut numbers = BTreeSet::new();
    let mut pks = BTreeSet::new();
    for (pk, roomid, name, city) in &acked.users {
        if !pks.insert(*pk) {
            v.push(format!("user pk {pk} twice"));
        }
        if !numbers.insert(*roomid) {
            v.push(format!("roomid {roomid} twice (user {pk})"));
        }
        let a = api.post("/login/", json!({"username": name, "password": "password123"})).await;
        if a.status != 200 || a.str("pk") != pk.to_string() || a.str("city") != city {
            v.push(format!("user {pk}: acknowledged city {city:?}, read back {} {}", a.status, a.body));
        }
    }
    let mut aliases = BTreeSet::new();
    for (pk, (roomid, alias, active)) in &acked.rooms {
        if !numbers.insert(*roomid) {
            v.push(format!("roomid {roomid} twice (room {pk})"));
        }
        if !aliases.insert(alias.clone()) {
            v.push(format!("alias {alias} twice"));
        }
        let a = api.get(&format!("/rooms/{pk}/")).await;
        if a.status != 200 || a.str("room_alias") != alias || a.body["active"] != json!(active) {
            v.push(format!("room {pk}: acknowledged ({alias}, {active}), read back {} {}", a.status, a.body));
        }
    }
    // The whole list, by cursor: each active room once, in pk order, as many as `total` says.
    let expected: BTreeSet<u64> = acked.rooms.iter().filter(|(_, r)| r.2).map(|(pk, _)| *pk).collect();
    let mut listed = Vec::new();
    let mut total = None;
    let mut path = "/rooms/?pageSize=100".to_owned();
    loop {
        let a = api.get(&path).await;
        if a.status != 200 {
            v.push(format!("list {path}: {} {}", a.status, a.body));
            break;
        }
        total.get_or_insert_with(|| a.str("total").parse::<usize>().unwrap_or(usize::MAX));
        for r in a.body["results"].as_array().into_iter().flatten() {
            listed.push(r["pk"].as_str().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0));
        }
        match a.body["next"].as_str() {
            Some(next) if !next.is_empty() => path = format!("/rooms/?pageSize=100&after={next}"),
            _ => break,
        }
    }
    if !listed.windows(2).all(|w| w[0] < w[1]) {
        v.push("list not in strictly increasing pk order (a room twice or out of order)".into());
    }
    if total != Some(listed.len()) {
        v.push(format!("total {total:?} but {} rooms listed", listed.len()));
    }
    let listed: BTreeSet<u64> = listed.into_iter().collect();
    if listed != expected {
        let missing: Vec<_> = expected.difference(&listed).collect();
        let extra: Vec<_> = listed.difference(&expected).collect();
        v.push(format!("listed rooms differ from the acknowledged active ones: missing {missing:?}, extra {extra:?}"));
    }
    v
}
