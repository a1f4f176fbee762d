//! The import of a legacy server's export (API.md "Moving an app off the legacy server";
//! docs/import.md). Each file is read line by line and handled in chunks of `chunk` lines: the
//! lines are checked with the API's own rules (shared::validate), the counters are raised above
//! the chunk's numbers, then the records are written through the shared store's import writes
//! (shared::store::import), `concurrency` at a time. Memory holds one chunk, whatever the size
//! of the export. A line whose record shares a key (pk, username, snsid, phone, alias, token)
//! with an earlier line of its chunk waits for that line's write: the earlier line always wins,
//! so reruns reject the same lines.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::stream::{self, StreamExt};
use serde_json::{json, Map, Value};
use shared::auth::{passwords, tokens};
use shared::clock;
use shared::domain::{Room, User};
use shared::handlers::rooms::ALIAS_MAX;
use shared::legacy::{self, field_reason, invalid, number, timestamp};
use shared::store::error::{ClaimKind, StoreError};
use shared::store::import::{ImportRefused, Imported};
use shared::store::tokens::TokenRecord;
use shared::store::users::Claim;
use shared::store::Store;
use shared::validate::{self, Fields};

/// Longest line read as a record; a longer one is rejected (`invalid_json`) without being held.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// A legacy token lives 24 h from its creation (the seed's rule), here as there.
pub const LEGACY_TOKEN_TTL: u64 = 24 * 3600;

/// CPU time spent wrapping legacy hashes in argon2id so far, in nanoseconds, summed over the
/// blocking threads (what `make bench-import` reports as the wrap's share).
pub static WRAP_NANOS: AtomicU64 = AtomicU64::new(0);

/// The three files of an export, in the order they are imported (rooms and tokens name accounts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Users,
    Rooms,
    Tokens,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Users, Kind::Rooms, Kind::Tokens];

    pub fn file(self) -> &'static str {
        match self {
            Kind::Users => "users.jsonl",
            Kind::Rooms => "rooms.jsonl",
            Kind::Tokens => "tokens.jsonl",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub from: PathBuf,
    pub dry_run: bool,
    /// Lines per chunk (the unit of a Lambda chunk handler too).
    pub chunk: usize,
    /// Records written at once within a chunk.
    pub concurrency: usize,
    /// SMS country codes a verified phone may have (the API's `SMS_ALLOWED_COUNTRIES`).
    pub allowed_countries: Vec<String>,
    /// Where relative avatar paths (the seed's `static/mcuser/img/...`) are served from, e.g.
    /// the legacy server's static files moved to a bucket; `None`: such an `img` is rejected.
    pub img_base: Option<String>,
}

/// The last line of output (API.md).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub users: u64,
    pub rooms: u64,
    pub tokens: u64,
    pub rejected: u64,
    pub unchanged: u64,
}

impl Summary {
    pub fn to_json(&self) -> String {
        json!({"users": self.users, "rooms": self.rooms, "tokens": self.tokens, "rejected": self.rejected,
               "unchanged": self.unchanged})
        .to_string()
    }

    fn add(&mut self, kind: Kind, outcome: &Outcome) {
        match outcome {
            Outcome::Created => match kind {
                Kind::Users => self.users += 1,
                Kind::Rooms => self.rooms += 1,
                Kind::Tokens => self.tokens += 1,
            },
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Rejected(_) => self.rejected += 1,
        }
    }
}

/// What became of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created,
    /// Already there as imported (a rerun), or nothing to write (a token already expired).
    Unchanged,
    Rejected(String),
}

/// Told after every chunk: how many lines of `kind` are done.
pub trait Progress: Sync {
    fn advance(&self, kind: Kind, lines_done: u64);
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Io(String),
    /// DynamoDB failed: nothing is half-written, a rerun goes on from where this stopped.
    #[error("store: {0}")]
    Store(StoreError),
}

/// Runs the whole import of `opts.from` into `store`; rejected lines go to
/// `<from>/rejects.jsonl` (replaced at every run).
pub async fn run(store: &Store, opts: &Options, progress: &dyn Progress) -> Result<Summary, ImportError> {
    let rejects_path = opts.from.join("rejects.jsonl");
    let mut rejects =
        std::io::BufWriter::new(std::fs::File::create(&rejects_path).map_err(|e| io_err(&rejects_path, e))?);
    let mut summary = Summary::default();
    for kind in Kind::ALL {
        let path = opts.from.join(kind.file());
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&path, e)),
        };
        let mut lines = Lines { reader: BufReader::new(file), number: 0 };
        let mut done = 0u64;
        loop {
            let chunk = lines.next_chunk(opts.chunk.max(1)).map_err(|e| io_err(&path, e))?;
            if chunk.is_empty() {
                break;
            }
            done += chunk.len() as u64;
            for (line, outcome) in import_chunk(store, opts, kind, chunk).await? {
                if let Outcome::Rejected(reason) = &outcome {
                    let entry = json!({"file": kind.file(), "line": line, "reason": reason});
                    writeln_io(&mut rejects, &entry, &rejects_path)?;
                }
                summary.add(kind, &outcome);
            }
            progress.advance(kind, done);
        }
    }
    use std::io::Write;
    rejects.flush().map_err(|e| io_err(&rejects_path, e))?;
    Ok(summary)
}

fn writeln_io(w: &mut impl std::io::Write, v: &Value, path: &Path) -> Result<(), ImportError> {
    writeln!(w, "{v}").map_err(|e| io_err(path, e))
}

fn io_err(path: &Path, e: std::io::Error) -> ImportError {
    ImportError::Io(format!("{}: {e}", path.display()))
}

/// A line as read: its number (from 1) and its text, or `None` when it was too long to hold.
pub type Line = (u64, Option<String>);

struct Lines<R> {
    reader: BufReader<R>,
    number: u64,
}

impl<R: Read> Lines<R> {
    /// Up to `n` more non-blank lines.
    fn next_chunk(&mut self, n: usize) -> std::io::Result<Vec<Line>> {
        let mut chunk = Vec::with_capacity(n);
        while chunk.len() < n {
            let mut buf = Vec::new();
            let read = (&mut self.reader).take(MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut buf)?;
            if read == 0 {
                break;
            }
            self.number += 1;
            if buf.len() > MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
                // Too long: the rest of the line is skipped, never held.
                let mut rest = Vec::new();
                loop {
                    rest.clear();
                    let r = (&mut self.reader).take(MAX_LINE_BYTES as u64).read_until(b'\n', &mut rest)?;
                    if r == 0 || rest.last() == Some(&b'\n') {
                        break;
                    }
                }
                chunk.push((self.number, None));
                continue;
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            chunk.push((self.number, String::from_utf8(buf).ok()));
        }
        Ok(chunk)
    }
}

/// A record checked and ready to write.
enum Record {
    User {
        user: Box<User>,
        legacy_hash: Option<String>,
        claims: Vec<Claim>,
    },
    Room(Room),
    Token {
        hash: String,
        record: TokenRecord,
    },
    /// A token that expired before the import: nothing to write.
    Expired,
}

impl Record {
    /// The keys no two records may share, with the reason a later line sharing one gets.
    fn keys(&self) -> Vec<String> {
        match self {
            Record::User { user, claims, .. } => {
                let mut keys = vec![format!("pk#{}", user.pk), format!("username#{}", user.username)];
                keys.extend(claims.iter().map(|c| c.id().to_owned()));
                keys
            }
            Record::Room(room) => vec![format!("pk#{}", room.pk), format!("alias#{}", room.room_alias)],
            Record::Token { hash, .. } => vec![hash.clone()],
            Record::Expired => Vec::new(),
        }
    }

    fn numbers(&self) -> (u64, u64, u64) {
        match self {
            Record::User { user, .. } => (user.pk, 0, user.roomid),
            Record::Room(room) => (0, room.pk, room.roomid),
            _ => (0, 0, 0),
        }
    }
}

/// Checks and writes one chunk of one file; outcomes in line order. Exposed for a chunk
/// handler that gets its lines from elsewhere (docs/import.md).
pub async fn import_chunk(
    store: &Store,
    opts: &Options,
    kind: Kind,
    chunk: Vec<Line>,
) -> Result<Vec<(u64, Outcome)>, ImportError> {
    let now = clock::now_unix();
    let mut outcomes: Vec<(u64, Outcome)> = Vec::with_capacity(chunk.len());
    let mut records: Vec<(usize, Record)> = Vec::with_capacity(chunk.len());
    for (line, text) in chunk {
        match parse(kind, text.as_deref(), opts, now) {
            Ok(Record::Expired) => outcomes.push((line, Outcome::Unchanged)),
            Ok(record) => {
                records.push((outcomes.len(), record));
                outcomes.push((line, Outcome::Created));
            }
            Err(reason) => outcomes.push((line, Outcome::Rejected(reason))),
        }
    }
    let (mut user_pk, mut room_pk, mut room_number) = (0, 0, 0);
    for (_, r) in &records {
        let (u, p, n) = r.numbers();
        (user_pk, room_pk, room_number) = (user_pk.max(u), room_pk.max(p), room_number.max(n));
    }
    if opts.dry_run {
        // Writes nothing; a line that would wait for an earlier one's claim is reported as the
        // write would report it.
        let mut seen = HashSet::new();
        for (at, record) in &records {
            if let Some(reason) = record.keys().iter().find(|k| !seen.insert((*k).clone())).map(|k| clash(kind, k)) {
                outcomes[*at].1 = Outcome::Rejected(reason);
            }
        }
        return Ok(outcomes);
    }
    // Numbers handed out after this chunk is written are above all of it, even if the run
    // stops right after.
    store.raise_counters(user_pk, room_pk, room_number).await.map_err(ImportError::Store)?;
    // Groups of records that share no key, written concurrently, one group after the other.
    let mut groups: Vec<Vec<(usize, Record)>> = vec![Vec::new()];
    let mut keys = HashSet::new();
    for (at, record) in records {
        let mine = record.keys();
        if mine.iter().any(|k| keys.contains(k)) {
            groups.push(Vec::new());
            keys.clear();
        }
        keys.extend(mine);
        groups.last_mut().expect("one group at least").push((at, record));
    }
    for group in groups {
        let writes = stream::iter(
            group
                .into_iter()
                .map(|(at, record)| async move { write(store, kind, record).await.map(|outcome| (at, outcome)) }),
        )
        .buffer_unordered(opts.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        for result in writes {
            let (at, outcome) = result?;
            outcomes[at].1 = outcome;
        }
    }
    Ok(outcomes)
}

/// The reason a later line of a chunk sharing key `k` with an earlier one gets in a dry run.
fn clash(kind: Kind, k: &str) -> String {
    let reason = match k.split('#').next().unwrap_or("") {
        "pk" => "duplicate_pk",
        "username" => "username_conflict",
        "sns" => "duplicate_snsid",
        "phone" => "duplicate_phone",
        "alias" => "duplicate_alias",
        _ if kind == Kind::Tokens => "duplicate_token",
        _ => "duplicate",
    };
    reason.to_owned()
}

async fn write(store: &Store, kind: Kind, record: Record) -> Result<Outcome, ImportError> {
    let result = match record {
        Record::User { user, legacy_hash, claims } => {
            let wrapped = match legacy_hash {
                // argon2id: tens of milliseconds of CPU, on the blocking pool.
                Some(legacy) => match {
                    // One wrap per core at a time: more only queue for the CPU, each holding
                    // its own 19 MiB argon2 area (the peak RSS would grow with --concurrency).
                    let _core = wrap_slots().acquire().await.map_err(|e| ImportError::Io(e.to_string()))?;
                    tokio::task::spawn_blocking(move || {
                        let before = thread_cpu_nanos();
                        let wrapped = passwords::wrap_legacy_blocking(&legacy);
                        WRAP_NANOS.fetch_add(thread_cpu_nanos().saturating_sub(before), Ordering::Relaxed);
                        wrapped
                    })
                    .await
                }
                .map_err(|e| ImportError::Io(format!("wrap task: {e}")))?
                {
                    Ok(Ok(wrapped)) => Some(wrapped),
                    Ok(Err(_)) => return Ok(Outcome::Rejected("invalid_hash".into())),
                    Err(e) => return Err(ImportError::Io(e.to_string())),
                },
                None => None,
            };
            store.import_user(&user, wrapped.as_deref(), &claims).await
        }
        Record::Room(room) => store.import_room(&room).await,
        Record::Token { hash, record } => store.import_token(&hash, &record).await,
        Record::Expired => return Ok(Outcome::Unchanged),
    };
    Ok(match result.map_err(ImportError::Store)? {
        Ok(Imported::Created) => Outcome::Created,
        Ok(Imported::Unchanged) => Outcome::Unchanged,
        Err(refused) => Outcome::Rejected(refusal(kind, refused).into()),
    })
}

fn wrap_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get))
    })
}

/// CPU time of the calling thread in nanoseconds (Linux `schedstat`; 0 where there is none).
fn thread_cpu_nanos() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn refusal(kind: Kind, refused: ImportRefused) -> &'static str {
    match refused {
        ImportRefused::DuplicatePk => "duplicate_pk",
        ImportRefused::Taken(ClaimKind::Username) => "username_conflict",
        ImportRefused::Taken(ClaimKind::Sns) => "duplicate_snsid",
        ImportRefused::Taken(ClaimKind::Phone) => "duplicate_phone",
        ImportRefused::Taken(ClaimKind::RoomAlias) => "duplicate_alias",
        // A room names its owner, a token its account.
        ImportRefused::NoAccount if kind == Kind::Rooms => "invalid_field:owner_pk",
        ImportRefused::NoAccount => "invalid_field:pk",
    }
}

fn parse(kind: Kind, text: Option<&str>, opts: &Options, now: u64) -> Result<Record, String> {
    let map = match text.map(serde_json::from_str::<Value>) {
        Some(Ok(Value::Object(map))) => map,
        _ => return Err("invalid_json".into()),
    };
    match kind {
        Kind::Users => parse_user(map, opts),
        Kind::Rooms => parse_room(map),
        Kind::Tokens => parse_token(map, now),
    }
}

fn parse_user(map: Map<String, Value>, opts: &Options) -> Result<Record, String> {
    let legacy = legacy::LegacyUser::parse(Fields::from_map(map), &opts.allowed_countries, opts.img_base.as_deref())?;
    Ok(Record::User { user: Box::new(legacy.user), legacy_hash: legacy.password_hash, claims: legacy.claims })
}

fn parse_room(map: Map<String, Value>) -> Result<Record, String> {
    let fields = Fields::from_map(map);
    let pk = number(&fields, "pk")?;
    let roomid = number(&fields, "roomid")?;
    let room_alias =
        validate::room_alias(&fields, ALIAS_MAX).map_err(field_reason)?.ok_or_else(|| invalid("room_alias"))?;
    let active = fields.optional_bool("active").map_err(field_reason)?.unwrap_or(false);
    let owner_pk = match fields.optional_text("owner_pk", 19).map_err(field_reason)? {
        None => 0,
        Some(raw) if raw.is_empty() => 0,
        Some(raw) => validate::parse_positive(&raw).ok_or_else(|| invalid("owner_pk"))?,
    };
    Ok(Record::Room(Room { pk, roomid, room_alias, active, owner_pk, version: 0 }))
}

fn parse_token(map: Map<String, Value>, now: u64) -> Result<Record, String> {
    let fields = Fields::from_map(map);
    let token = fields.required_text("token", 32).map_err(|_| invalid("token"))?;
    tokens::check_format(&token).map_err(|_| invalid("token"))?;
    let user_pk = number(&fields, "pk")?;
    let raw = fields.required_text("created", 64).map_err(|_| invalid("created"))?;
    let created = timestamp(&raw).map(|t| t.timestamp()).ok_or_else(|| invalid("created"))?;
    let created = u64::try_from(created).map_err(|_| invalid("created"))?;
    // A clock a few minutes apart is no reason to refuse; a token from the future is.
    if created > now + 300 {
        return Err(invalid("created"));
    }
    let expires_at = created + LEGACY_TOKEN_TTL;
    if expires_at <= now {
        return Ok(Record::Expired);
    }
    let record = TokenRecord { user_pk, epoch: 0, expires_at, issued_at: created, session: String::new() };
    Ok(Record::Token { hash: tokens::hash(&token), record })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_numbers_skip_blanks_and_never_hold_an_overlong_line() {
        let long = "x".repeat(3 * MAX_LINE_BYTES);
        let text = format!("{{\"a\":1}}\n\n   \n{long}\n{{\"b\":2}}\n{{\"c\":3}}");
        let mut lines = Lines { reader: BufReader::new(text.as_bytes()), number: 0 };
        let first = lines.next_chunk(2).unwrap();
        assert_eq!(first, vec![(1, Some("{\"a\":1}\n".to_owned())), (4, None)]);
        let rest = lines.next_chunk(10).unwrap();
        assert_eq!(rest, vec![(5, Some("{\"b\":2}\n".to_owned())), (6, Some("{\"c\":3}".to_owned()))]);
        assert!(lines.next_chunk(10).unwrap().is_empty());
    }

    #[test]
    fn a_token_past_its_24_hours_is_not_kept_and_one_from_the_future_is_refused() {
        let now = 1_800_000_000;
        let at = |t: u64| chrono::DateTime::from_timestamp(t as i64, 0).unwrap().to_rfc3339();
        let token = |created: String| {
            let v = json!({"token": "0123456789abcdef0123456789abcdef", "pk": "7", "created": created});
            parse_token(v.as_object().unwrap().clone(), now)
        };
        match token(at(now - 3600)) {
            Ok(Record::Token { record, .. }) => assert_eq!(record.expires_at, now - 3600 + LEGACY_TOKEN_TTL),
            _ => panic!("a live token"),
        }
        assert!(matches!(token(at(now - LEGACY_TOKEN_TTL)), Ok(Record::Expired)));
        assert_eq!(token(at(now + 3600)).err(), Some("invalid_field:created".to_owned()));
    }
}
