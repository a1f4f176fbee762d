//! Session tokens: 128 random bits shown once as 32 lowercase hex characters; the store only
//! ever sees their SHA-256, so a table dump yields no usable token.

use sha2::{Digest, Sha256};

use crate::ApiError;

pub struct NewToken {
    /// What the client gets.
    pub plain: String,
    /// What the token table is keyed by.
    pub hash: String,
}

pub fn generate() -> Result<NewToken, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Unavailable(format!("rng: {e}")))?;
    let plain = hex::encode(bytes);
    let hash = hash(&plain);
    Ok(NewToken { plain, hash })
}

pub fn hash(plain: &str) -> String {
    hex::encode(Sha256::digest(plain.as_bytes()))
}

/// Only well-formed tokens reach the store; anything else is simply not a token.
pub fn check_format(token: &str) -> Result<(), ApiError> {
    if token.len() == 32 && token.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
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
    }
}
