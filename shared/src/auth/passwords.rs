//! argon2id with OWASP's minimum parameters (m = 19 MiB, t = 2, p = 1), stored as PHC strings
//! so parameters can be raised later without breaking old hashes. Hashing runs on the blocking
//! pool: it is tens of milliseconds of CPU.
//!
//! The 19 MiB working area is allocated once and reused (see [`with_memory`]): a fresh one per
//! hash costs its page faults on every login and, freed on whichever blocking-pool thread ran
//! it, stays in that thread's glibc arena, so resident memory grew by 19 MiB per new thread
//! (124 MiB after 30 logins) instead of staying at one area.

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

/// Whether `password` matches the PHC string `phc`, under the parameters `phc` names.
pub fn verify_blocking(password: &str, phc: &str) -> bool {
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
