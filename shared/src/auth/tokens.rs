//! Session tokens: 128 random bits shown once as 32 lowercase hex characters (refresh tokens:
//! 256 bits, 64 characters); the store only ever sees their SHA-256, so a table dump yields no
//! usable token.

use sha2::{Digest, Sha256};

use crate::ApiError;

pub struct NewToken {
    /// What the client gets.
    pub plain: String,
    /// What the token table is keyed by.
    pub hash: String,
}

/// A 24 h token: 128 random bits.
pub fn generate() -> Result<NewToken, ApiError> {
    random_hex::<16>().map(|plain| NewToken { hash: hash(&plain), plain })
}

/// A refresh token: 256 random bits (it lives for weeks, not a day).
pub fn generate_refresh() -> Result<NewToken, ApiError> {
    random_hex::<32>().map(|plain| NewToken { hash: hash(&plain), plain })
}

/// A session id: not a secret (it is never sent to a client), only unique.
pub fn generate_session_id() -> Result<String, ApiError> {
    random_hex::<16>()
}

fn random_hex<const N: usize>() -> Result<String, ApiError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Unavailable(format!("rng: {e}")))?;
    Ok(hex::encode(bytes))
}

pub fn hash(plain: &str) -> String {
    hex::encode(Sha256::digest(plain.as_bytes()))
}

/// Only well-formed tokens reach the store; anything else is simply not a token.
pub fn check_format(token: &str) -> Result<(), ApiError> {
    check_hex(token, 32)
}

/// The same for refresh tokens (64 hex digits).
pub fn check_refresh_format(token: &str) -> Result<(), ApiError> {
    check_hex(token, 64)
}

fn check_hex(token: &str, len: usize) -> Result<(), ApiError> {
    if token.len() == len && token.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_32_lowercase_hex_and_unique() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(check_format(&a.plain).is_ok());
        assert_ne!(a.plain, b.plain);
        assert_eq!(a.hash, hash(&a.plain));
        assert_eq!(a.hash.len(), 64);
        assert!(check_format("8CA6DD209E7F780229CDEE74EF525DFE").is_err());
        assert!(check_format("short").is_err());
        let r = generate_refresh().unwrap();
        assert!(check_refresh_format(&r.plain).is_ok());
        assert!(check_refresh_format(&a.plain).is_err());
        assert!(check_format(&r.plain).is_err());
    }
}
