//! argon2id with OWASP's minimum parameters (m = 19 MiB, t = 2, p = 1), stored as PHC strings
//! so parameters can be raised later without breaking old hashes. Hashing runs on the blocking
//! pool: it is tens of milliseconds of CPU.
//!
//! The 19 MiB working area is allocated once and reused (see [`with_memory`]): a fresh one per
//! hash costs its page faults on every login and, freed on whichever blocking-pool thread ran
//! it, stays in that thread's glibc arena, so resident memory grew by 19 MiB per new thread
//! (124 MiB after 30 logins) instead of staying at one area.
//!
//! Hashes imported from the legacy server (API.md "Moving an app off the legacy server": the
//! seed's unsalted MD5 hex, Django's `pbkdf2_sha256`, `md5`, `sha1` strings) are never stored
//! as they came: [`wrap_legacy_blocking`] stores `$legacy$<scheme and its parameters>` followed
//! by an argon2id PHC string over the whole legacy hash string. A table dump therefore holds no
//! MD5 to look up; a login recomputes the legacy string from the password (with the kept salt
//! and iterations) and checks it against the argon2id. The first successful login replaces it
//! by a plain argon2id of the password (handlers::login).

use std::sync::{Mutex, OnceLock, PoisonError};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::ApiError;

const ALGORITHM: Algorithm = Algorithm::Argon2id;
const VERSION: Version = Version::V0x13;

fn params() -> Params {
    Params::new(19 * 1024, 2, 1, Some(Params::DEFAULT_OUTPUT_LEN)).expect("static argon2 parameters are valid")
}

/// Working areas not in use. A Lambda sandbox serves one request at a time, so it holds one
/// area for its whole life; the local server holds as many as it ever hashed at once.
static AREAS: Mutex<Vec<Box<[Block]>>> = Mutex::new(Vec::new());

/// Runs `f` with a working area of at least `blocks` blocks, taken from [`AREAS`] and put back.
/// Every block argon2 reads it has written first in the same run, so a reused area carries
/// nothing from the previous hash into this one.
fn with_memory<R>(blocks: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    let pooled = AREAS.lock().unwrap_or_else(PoisonError::into_inner).pop();
    let mut area = match pooled {
        Some(area) if area.len() >= blocks => area,
        // None yet, or a stored hash with a larger m than today's: this one replaces it.
        _ => vec![Block::default(); blocks].into_boxed_slice(),
    };
    let result = f(&mut area);
    AREAS.lock().unwrap_or_else(PoisonError::into_inner).push(area);
    result
}

/// The raw argon2 output for `password` under `params`, `out.len()` bytes.
fn compute(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    with_memory(blocks, |area| argon2.hash_password_into_with_memory(password, salt, out, area))
}

pub fn hash_blocking(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| ApiError::Unavailable(format!("rng: {e}")))?;
    let salt_b64 = SaltString::encode_b64(&salt).map_err(|e| ApiError::Unavailable(format!("salt: {e}")))?;
    let params = params();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let fail = |e: &dyn std::fmt::Display| ApiError::Unavailable(format!("argon2: {e}"));
    compute(ALGORITHM, VERSION, params.clone(), password.as_bytes(), &salt, &mut out).map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: ALGORITHM.ident(),
        version: Some(VERSION.into()),
        params: ParamsString::try_from(&params).map_err(|e| fail(&e))?,
        salt: Some(salt_b64.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `phc`, under the parameters `phc` names; a
/// wrapped legacy hash ([`wrap_legacy_blocking`]) is checked through its wrap.
pub fn verify_blocking(password: &str, phc: &str) -> bool {
    if let Some((legacy, wrap)) = split_wrapped(phc) {
        return verify_argon2(&legacy.recompute(password), wrap);
    }
    verify_argon2(password, phc)
}

fn verify_argon2(password: &str, phc: &str) -> bool {
    let check = || -> Option<bool> {
        let parsed = PasswordHash::new(phc).ok()?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = parsed.version.map_or(Some(Version::default()), |v| Version::try_from(v).ok())?;
        let params = Params::try_from(&parsed).ok()?;
        let expected = parsed.hash?;
        let mut salt = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
        let mut out = vec![0u8; expected.len()];
        compute(algorithm, version, params, password.as_bytes(), salt, &mut out).ok()?;
        // `Output`'s equality is constant-time.
        Some(Output::new(&out).ok()? == expected)
    };
    check().unwrap_or(false)
}

pub async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|e| ApiError::Unavailable(format!("hash task: {e}")))?
}

/// Checks `password` against `phc`; with no hash (unknown user, or an account without a
/// password) it still spends one verification, so response time does not reveal which
/// usernames exist.
pub async fn verify(password: String, phc: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || match phc {
        Some(phc) => verify_blocking(&password, &phc),
        None => {
            verify_blocking(&password, decoy_hash());
            false
        }
    })
    .await
    .map_err(|e| ApiError::Unavailable(format!("verify task: {e}")))
}

/// Marks a stored hash as a wrapped legacy one. A PHC string starts with `$<algorithm>$`, and
/// no argon2 variant is called `legacy`, so the two never mix.
const WRAP_PREFIX: &str = "$legacy$";

/// Iterations above this are refused at import: a login must not spend seconds of CPU (Django's
/// own default is below 1.2 M).
pub const PBKDF2_MAX_ITERATIONS: u32 = 10_000_000;

/// A legacy hash as parsed, minus its digest: what recomputing it from a password needs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Legacy {
    /// The seed's `md5(password)` as 32 hex digits.
    UnsaltedMd5,
    /// Django's `md5$<salt>$<hex>`: md5(salt + password).
    Md5 { salt: String },
    /// Django's `sha1$<salt>$<hex>`: sha1(salt + password).
    Sha1 { salt: String },
    /// Django's `pbkdf2_sha256$<iterations>$<salt>$<base64 of 32 bytes>`.
    Pbkdf2Sha256 { iterations: u32, salt: String },
}

/// Why a legacy hash string cannot be imported (the import rejects it as `invalid_hash`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a supported legacy password hash")]
pub struct InvalidLegacyHash;

impl Legacy {
    /// Parses `hash` and returns it with its canonical spelling (lowercase hex, padded base64),
    /// the one [`Legacy::recompute`] produces, so the wrap verifies whatever case the export used.
    fn parse(hash: &str) -> Result<(Legacy, String), InvalidLegacyHash> {
        use base64::Engine;
        let hex_of = |digest: &str, len: usize| -> Result<String, InvalidLegacyHash> {
            let ok = digest.len() == len && digest.bytes().all(|b| b.is_ascii_hexdigit());
            ok.then(|| digest.to_ascii_lowercase()).ok_or(InvalidLegacyHash)
        };
        // Django salts are alphanumeric; anything printable without `$` is accepted.
        let salt_of = |salt: &str| -> Result<String, InvalidLegacyHash> {
            let ok = !salt.is_empty() && salt.len() <= 128 && salt.bytes().all(|b| b.is_ascii_graphic() && b != b'$');
            ok.then(|| salt.to_owned()).ok_or(InvalidLegacyHash)
        };
        let parts: Vec<&str> = hash.split('$').collect();
        let (legacy, digest) = match parts.as_slice() {
            [md5] => (Legacy::UnsaltedMd5, hex_of(md5, 32)?),
            ["md5", salt, digest] => (Legacy::Md5 { salt: salt_of(salt)? }, hex_of(digest, 32)?),
            ["sha1", salt, digest] => (Legacy::Sha1 { salt: salt_of(salt)? }, hex_of(digest, 40)?),
            ["pbkdf2_sha256", iterations, salt, digest] => {
                let iterations = crate::validate::parse_positive(iterations)
                    .and_then(|i| u32::try_from(i).ok())
                    .filter(|i| *i <= PBKDF2_MAX_ITERATIONS)
                    .ok_or(InvalidLegacyHash)?;
                let engine = base64::engine::general_purpose::STANDARD;
                let bytes = engine.decode(digest).map_err(|_| InvalidLegacyHash)?;
                if bytes.len() != 32 {
                    return Err(InvalidLegacyHash);
                }
                (Legacy::Pbkdf2Sha256 { iterations, salt: salt_of(salt)? }, engine.encode(bytes))
            }
            _ => return Err(InvalidLegacyHash),
        };
        let canonical = match legacy {
            Legacy::UnsaltedMd5 => digest,
            _ => format!("{}${digest}", legacy.params()),
        };
        Ok((legacy, canonical))
    }

    /// What goes before the argon2id PHC string in the stored wrap.
    fn params(&self) -> String {
        match self {
            Legacy::UnsaltedMd5 => "unsalted_md5".into(),
            Legacy::Md5 { salt } => format!("md5${salt}"),
            Legacy::Sha1 { salt } => format!("sha1${salt}"),
            Legacy::Pbkdf2Sha256 { iterations, salt } => format!("pbkdf2_sha256${iterations}${salt}"),
        }
    }

    fn from_params(params: &str) -> Option<Legacy> {
        let parts: Vec<&str> = params.split('$').collect();
        Some(match parts.as_slice() {
            ["unsalted_md5"] => Legacy::UnsaltedMd5,
            ["md5", salt] => Legacy::Md5 { salt: (*salt).to_owned() },
            ["sha1", salt] => Legacy::Sha1 { salt: (*salt).to_owned() },
            ["pbkdf2_sha256", iterations, salt] => Legacy::Pbkdf2Sha256 {
                iterations: iterations.parse().ok().filter(|i| (1..=PBKDF2_MAX_ITERATIONS).contains(i))?,
                salt: (*salt).to_owned(),
            },
            _ => return None,
        })
    }

    /// The legacy hash string the legacy server would have stored for `password`, canonical.
    fn recompute(&self, password: &str) -> String {
        use base64::Engine;
        use sha2::Digest;
        match self {
            Legacy::UnsaltedMd5 => hex::encode(md5::Md5::digest(password.as_bytes())),
            Legacy::Md5 { salt } => {
                format!("md5${salt}${}", hex::encode(md5::Md5::digest(format!("{salt}{password}"))))
            }
            Legacy::Sha1 { salt } => {
                format!("sha1${salt}${}", hex::encode(sha1::Sha1::digest(format!("{salt}{password}"))))
            }
            Legacy::Pbkdf2Sha256 { iterations, salt } => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt.as_bytes(), *iterations, &mut out);
                let b64 = base64::engine::general_purpose::STANDARD.encode(out);
                format!("pbkdf2_sha256${iterations}${salt}${b64}")
            }
        }
    }
}

/// Wraps a legacy hash string for storage: `$legacy$<scheme>[$<iterations>][$<salt>]` then an
/// argon2id PHC string over the canonical legacy string. Refuses anything but the four formats.
pub fn wrap_legacy_blocking(legacy_hash: &str) -> Result<Result<String, InvalidLegacyHash>, ApiError> {
    let (legacy, canonical) = match Legacy::parse(legacy_hash) {
        Ok(parsed) => parsed,
        Err(e) => return Ok(Err(e)),
    };
    let wrap = hash_blocking(&canonical)?;
    Ok(Ok(format!("{WRAP_PREFIX}{}{wrap}", legacy.params())))
}

/// Whether `legacy_hash` is one of the four legacy formats (the import's `--dry-run` check).
pub fn check_legacy(legacy_hash: &str) -> Result<(), InvalidLegacyHash> {
    Legacy::parse(legacy_hash).map(|_| ())
}

/// Whether a stored hash is a wrapped legacy one, to be replaced at the next successful login.
pub fn is_wrapped(stored: &str) -> bool {
    split_wrapped(stored).is_some()
}

/// The legacy parameters and the argon2id PHC string of a wrap. The PHC string is the last five
/// `$` fields (`$argon2id$v=..$m=..$salt$hash`); salts of the legacy part hold no `$`.
fn split_wrapped(stored: &str) -> Option<(Legacy, &str)> {
    let rest = stored.strip_prefix(WRAP_PREFIX)?;
    let (at, _) = rest.rmatch_indices('$').nth(4)?;
    Some((Legacy::from_params(&rest[..at])?, &rest[at..]))
}

fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_blocking("decoy password nobody has").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_and_verify() {
        let h = hash_blocking("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_blocking("correct horse", &h));
        assert!(!verify_blocking("wrong horse", &h));
        assert_ne!(h, hash_blocking("correct horse").unwrap(), "salts must differ");
        assert!(!verify_blocking("correct horse", "not a phc string"));
    }

    /// Hashes stored before the working area was reused (the crate's own allocating hasher)
    /// still verify, and the crate verifies ours: same bytes, same PHC string.
    #[test]
    fn reused_memory_matches_the_crates_own_hasher() {
        let salt = SaltString::encode_b64(b"sixteen byte sal").unwrap();
        let theirs =
            Argon2::new(ALGORITHM, VERSION, params()).hash_password(b"correct horse", &salt).unwrap().to_string();
        assert!(verify_blocking("correct horse", &theirs));
        assert!(!verify_blocking("correct hors", &theirs));
        let ours = hash_blocking("correct horse").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        // Hashes under other parameters (raised later, or older) verify with their own.
        let other = Params::new(8 * 1024, 3, 1, None).unwrap();
        let older = Argon2::new(ALGORITHM, VERSION, other).hash_password(b"pw", &salt).unwrap().to_string();
        assert!(verify_blocking("pw", &older));
        assert!(!verify_blocking("pw2", &older));
        assert!(verify_blocking("correct horse", &ours));
    }

    /// Vectors computed with Python's hashlib (hashlib.md5/sha1, pbkdf2_hmac("sha256"), base64),
    /// the way the seed and Django compute them.
    const VECTORS: &[(&str, &str)] = &[
        ("legacy pass", "74d22f7c666150d2364e43dfcc00f395"),
        ("abc", "900150983CD24FB0D6963F7D28E17F72"),
        ("legacy pass", "md5$seasalt$3ba6ec36b18f825433b3d33dae1d994b"),
        ("legacy pass", "sha1$seasalt$a69177e0b2021d4da5ecfce22e7ffa5fd4d26feb"),
        ("legacy pass", "pbkdf2_sha256$1000$Pd9fQ2xLmZ7a$iCySJf0bKs2FPw1QfUGD2vnCS35cNiLhvyC07ZLBzU0="),
        ("密码pässwörd", "pbkdf2_sha256$2$uniSalt$oPdKweJZIYSiD0QCGlGH3a0KIiqnefffFmDx1dJDv6A="),
    ];

    #[test]
    fn every_legacy_format_verifies_through_its_wrap_and_is_not_stored_as_it_came() {
        for (password, legacy) in VECTORS {
            let wrapped = wrap_legacy_blocking(legacy).unwrap().unwrap();
            assert!(wrapped.starts_with(WRAP_PREFIX) && is_wrapped(&wrapped), "{wrapped}");
            let digest = legacy.rsplit('$').next().unwrap();
            assert!(!wrapped.to_ascii_lowercase().contains(&digest.to_ascii_lowercase()), "{wrapped}");
            assert!(verify_blocking(password, &wrapped), "{legacy}");
            assert!(!verify_blocking("wrong password", &wrapped), "{legacy}");
            assert!(!verify_blocking(legacy, &wrapped), "the legacy hash itself is not the password");
            assert!(!is_wrapped(&hash_blocking(password).unwrap()));
        }
    }

    #[test]
    fn malformed_legacy_hashes_are_refused() {
        for bad in [
            "",
            "74d22f7c666150d2364e43dfcc00f39",
            "74d22f7c666150d2364e43dfcc00f39g",
            "md5$$3ba6ec36b18f825433b3d33dae1d994b",
            "md5$salt$3ba6ec36",
            "sha1$seasalt$3ba6ec36b18f825433b3d33dae1d994b",
            "pbkdf2_sha256$0$salt$iCySJf0bKs2FPw1QfUGD2vnCS35cNiLhvyC07ZLBzU0=",
            "pbkdf2_sha256$99999999999$salt$iCySJf0bKs2FPw1QfUGD2vnCS35cNiLhvyC07ZLBzU0=",
            "pbkdf2_sha256$1000$salt$notbase64!",
            "pbkdf2_sha256$1000$salt$aGVsbG8=",
            "bcrypt$$2b$12$abc",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        ] {
            assert_eq!(check_legacy(bad), Err(InvalidLegacyHash), "{bad}");
            assert!(wrap_legacy_blocking(bad).unwrap().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_damaged_wrap_verifies_nothing() {
        let wrapped = wrap_legacy_blocking("74d22f7c666150d2364e43dfcc00f395").unwrap().unwrap();
        for damaged in [
            wrapped.replace("unsalted_md5", "unsalted_sha9"),
            wrapped.replace("$legacy$", "$legacy$x$"),
            wrapped[..wrapped.len() - 4].to_owned(),
            "$legacy$unsalted_md5".to_owned(),
        ] {
            assert!(!verify_blocking("legacy pass", &damaged), "{damaged}");
        }
    }

    #[test]
    fn one_area_serves_every_sequential_hash() {
        for _ in 0..3 {
            hash_blocking("correct horse").unwrap();
        }
        let areas = AREAS.lock().unwrap();
        // Other tests in this binary may hash at the same time; sequential use adds none.
        assert!(!areas.is_empty() && areas.len() <= 3, "{} areas", areas.len());
        assert!(areas.iter().all(|a| a.len() >= params().block_count()));
    }
}
