//! Sign in with Apple: the identity token (a JWT the app got from Apple) is checked here, never
//! trusted: RS256 signature against Apple's published keys, `iss`, `aud` one of our client ids,
//! `exp` (small leeway), `sub` equal to the `snsid` the client claims, and the `nonce` when the
//! client sends one (SHA-256 hex of it, so a token captured from another sign-in cannot be
//! replayed into this one).
//!
//! Apple's keys (`{APPLE_API_BASE}/auth/keys`) are cached for the life of the sandbox. A token
//! signed with a `kid` the cache does not know refetches them (Apple rotates keys), but not more
//! than once per `keys_refetch_interval`: garbage `kid`s cannot turn this function into a
//! request flood on Apple. Concurrent requests wait for one fetch instead of each making one.

use std::collections::HashMap;
use std::time::Instant;

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::HttpClient;
use crate::config::{AppleConfig, APPLE_ISSUER};
use crate::ApiError;

/// What a verified identity token tells about the user.
#[derive(Debug)]
pub struct AppleIdentity {
    /// May be a private relay address; absent after the first sign-in.
    pub email: Option<String>,
}

#[derive(Default)]
pub struct AppleKeys {
    cache: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: String,
    kty: String,
    #[serde(default)]
    n: String,
    #[serde(default)]
    e: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

fn rejected(why: impl std::fmt::Display) -> ApiError {
    ApiError::ProviderRejected(format!("apple: {why}"))
}

impl AppleKeys {
    pub async fn verify(
        &self,
        http: &HttpClient,
        config: &AppleConfig,
        id_token: &str,
        snsid: &str,
        nonce: Option<&str>,
    ) -> Result<AppleIdentity, ApiError> {
        if config.client_ids.is_empty() {
            // Without our client ids, a token issued to any app would pass: refuse to verify.
            return Err(ApiError::Unavailable("APPLE_CLIENT_IDS is not configured".into()));
        }
        let header = decode_header(id_token).map_err(|e| rejected(format!("header: {e}")))?;
        if header.alg != Algorithm::RS256 {
            return Err(rejected(format!("alg {:?}", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| rejected("no kid"))?;
        let key = self.key(http, config, &kid).await?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[APPLE_ISSUER]);
        validation.set_audience(&config.client_ids);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = config.leeway.as_secs();
        let claims = decode::<Claims>(id_token, &key, &validation).map_err(rejected)?.claims;
        if claims.sub != snsid {
            return Err(rejected("sub is not snsid"));
        }
        if let Some(raw) = nonce {
            let expected = hex::encode(Sha256::digest(raw.as_bytes()));
            if claims.nonce.as_deref() != Some(expected.as_str()) {
                return Err(rejected("nonce mismatch"));
            }
        }
        Ok(AppleIdentity { email: claims.email.filter(|e| !e.is_empty()) })
    }

    /// The key `kid`, from the cache or from one refetch when the last is old enough.
    async fn key(&self, http: &HttpClient, config: &AppleConfig, kid: &str) -> Result<DecodingKey, ApiError> {
        let mut cache = self.cache.lock().await;
        if let Some(key) = cache.keys.get(kid) {
            return Ok(key.clone());
        }
        if cache.fetched_at.is_some_and(|at| at.elapsed() < config.keys_refetch_interval) {
            return Err(rejected(format!("unknown kid {kid}")));
        }
        cache.keys = fetch(http, config).await?;
        cache.fetched_at = Some(Instant::now());
        cache.keys.get(kid).cloned().ok_or_else(|| rejected(format!("unknown kid {kid}")))
    }
}

/// Apple's current keys. Apple unreachable or answering something else than a JWKS: 502, and
/// the cache keeps what it had.
async fn fetch(http: &HttpClient, config: &AppleConfig) -> Result<HashMap<String, DecodingKey>, ApiError> {
    let bad = |why: String| ApiError::BadGateway(format!("apple keys: {why}"));
    let answer = http.get(&format!("{}/auth/keys", config.api_base)).await.map_err(bad)?;
    if answer.status != 200 {
        return Err(bad(format!("HTTP {}", answer.status)));
    }
    let jwks: Jwks = serde_json::from_slice(&answer.body).map_err(|e| bad(e.to_string()))?;
    let mut keys = HashMap::new();
    for jwk in jwks.keys.into_iter().filter(|k| k.kty == "RSA") {
        let key = DecodingKey::from_rsa_components(&jwk.n, &jwk.e).map_err(|e| bad(format!("{}: {e}", jwk.kid)))?;
        keys.insert(jwk.kid, key);
    }
    if keys.is_empty() {
        return Err(bad("no RSA key".into()));
    }
    Ok(keys)
}
