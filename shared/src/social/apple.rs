//! Sign in with Apple: the identity token (a JWT the app got from Apple) is checked here, never
//! trusted: RS256 signature against Apple's published keys, `iss`, `aud` one of our client ids,
//! `exp` (small leeway), `sub` equal to the `snsid` the client claims, and the nonce: a token
//! whose claims carry a `nonce` is accepted only with the raw nonce it was bound to (SHA-256 hex
//! of the request's `nonce` equal to the claim), so a captured token does not replay without it;
//! a request's `nonce` against a token without one is refused too. Apps should always send one
//! (docs/security.md).
//!
//! Apple's keys (`{APPLE_API_BASE}/auth/keys`) are cached per sandbox for `keys_max_age` (24 h),
//! then fetched again before the next token is checked, so a key Apple withdrew stops being
//! trusted within a day (a failed refetch then trusts none: 502). A token signed with a `kid`
//! the cache does not know refetches them too (Apple rotates keys), but not more than once per
//! `keys_refetch_interval`: garbage `kid`s cannot turn this function into a request flood on
//! Apple. Concurrent requests wait for one fetch instead of each making one.
//!
//! With Apple credentials configured and an `authorization_code`, the code is exchanged at
//! `/auth/token` for Apple's refresh token, which is stored only so that [`revoke`] can revoke
//! it at `/auth/revoke` when the account is deleted (Apple requires it). Both calls
//! authenticate with a client secret: an ES256 JWT signed with the team's .p8 key.
//!
//! The stored token is sealed (AES-256-GCM under a key derived with HKDF-SHA256 from the seal
//! secret, a random nonce per seal, the item's key and client id as associated data, so a sealed
//! value opens only in its own item) and expires (`token_ttl`). A deletion records the
//! revocation as owed in its own transaction; [`revoke`] then asks Apple, and a revocation Apple
//! did not confirm stays owed until [`retry_pending_revocations`] (the entry point of a
//! scheduled sweeper) completes it.

use std::collections::HashMap;
use std::time::Instant;

use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::HttpClient;
use crate::config::{AppleConfig, APPLE_ISSUER};
use ring::{aead, hkdf};

use crate::store::AppleToken;
use crate::{clock, ApiError, Context};

/// What a verified identity token tells about the user.
#[derive(Debug)]
pub struct AppleIdentity {
    /// May be a private relay address; absent after the first sign-in.
    pub email: Option<String>,
    /// The token's `aud`: the app (bundle id) or service id it was issued to.
    pub client_id: String,
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
    aud: String,
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
        match (nonce, claims.nonce.as_deref()) {
            (None, None) => {}
            (Some(raw), Some(bound)) if hex::encode(Sha256::digest(raw.as_bytes())) == bound => {}
            (None, Some(_)) => return Err(rejected("the token is bound to a nonce the request does not carry")),
            _ => return Err(rejected("nonce mismatch")),
        }
        Ok(AppleIdentity { email: claims.email.filter(|e| !e.is_empty()), client_id: claims.aud })
    }

    /// The key `kid`: from the cache while it is younger than `keys_max_age`, else from a fetch;
    /// an unknown `kid` refetches when the last fetch is older than `keys_refetch_interval`.
    async fn key(&self, http: &HttpClient, config: &AppleConfig, kid: &str) -> Result<DecodingKey, ApiError> {
        let mut cache = self.cache.lock().await;
        let fresh = cache.fetched_at.is_some_and(|at| at.elapsed() < config.keys_max_age);
        if fresh {
            if let Some(key) = cache.keys.get(kid) {
                return Ok(key.clone());
            }
            if cache.fetched_at.is_some_and(|at| at.elapsed() < config.keys_refetch_interval) {
                return Err(rejected(format!("unknown kid {kid}")));
            }
        } else {
            // Too old to trust, whether or not the refetch below succeeds.
            cache.keys.clear();
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

/// Whether the code exchange (and so revocation) is configured.
pub fn can_exchange(config: &AppleConfig) -> bool {
    !config.team_id.is_empty() && !config.key_id.is_empty() && config.private_key.is_some()
}

#[derive(serde::Serialize)]
struct SecretClaims<'a> {
    iss: &'a str,
    iat: u64,
    exp: u64,
    aud: &'a str,
    sub: &'a str,
}

/// The client secret of one call: an ES256 JWT from the team, for `client_id`, valid a few
/// minutes (Apple accepts at most 6 months).
fn client_secret(config: &AppleConfig, client_id: &str) -> Result<String, ApiError> {
    let pem = config.private_key.as_deref().ok_or_else(|| ApiError::Unavailable("APPLE_PRIVATE_KEY missing".into()))?;
    let key = EncodingKey::from_ec_pem(pem.as_bytes())
        .map_err(|e| ApiError::Unavailable(format!("Apple private key unreadable: {e}")))?;
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(config.key_id.clone());
    let iat = clock::now_unix();
    let ttl = config.client_secret_ttl.as_secs().min(MAX_CLIENT_SECRET_SECONDS);
    let claims = SecretClaims { iss: &config.team_id, iat, exp: iat + ttl, aud: APPLE_ISSUER, sub: client_id };
    encode(&header, &claims, &key).map_err(|e| ApiError::Unavailable(format!("client secret: {e}")))
}

/// Apple's limit on a client secret's lifetime.
pub const MAX_CLIENT_SECRET_SECONDS: u64 = 15_777_000;

#[derive(Deserialize)]
struct TokenAnswer {
    refresh_token: String,
}

/// Exchanges an authorization code for Apple's refresh token.
pub async fn exchange(
    http: &HttpClient,
    config: &AppleConfig,
    client_id: &str,
    code: &str,
) -> Result<String, ApiError> {
    let secret = client_secret(config, client_id)?;
    let form = [
        ("client_id", client_id),
        ("client_secret", secret.as_str()),
        ("code", code),
        ("grant_type", "authorization_code"),
    ];
    let answer = http
        .post_form(&format!("{}/auth/token", config.api_base), &form)
        .await
        .map_err(|e| ApiError::BadGateway(format!("apple token: {e}")))?;
    if answer.status != 200 {
        return Err(ApiError::BadGateway(format!("apple token: HTTP {}", answer.status)));
    }
    let token: TokenAnswer =
        serde_json::from_slice(&answer.body).map_err(|e| ApiError::BadGateway(format!("apple token: {e}")))?;
    Ok(token.refresh_token)
}

/// Revokes account `user_pk`'s stored Apple refresh token at Apple, then forgets it (and that it
/// was owed). `Ok(false)` when there is none. The account deletion path calls this after the
/// deletion's transaction recorded the revocation as owed: a failure is for it to log (API.md:
/// it does not block the deletion), and [`retry_pending_revocations`] tries again later.
pub async fn revoke(ctx: &Context, user_pk: u64) -> Result<bool, ApiError> {
    let Some(creds) = ctx.store.apple_credentials(user_pk).await? else {
        return Ok(false);
    };
    let config = &ctx.config.sns.apple;
    let token = match &creds.token {
        AppleToken::Sealed(sealed) => open(config, user_pk, &creds.client_id, sealed)?,
        AppleToken::Plain(token) => token.clone(),
    };
    revoke_token(ctx.providers.http(), config, &creds.client_id, &token).await?;
    ctx.store.forget_apple_credentials(user_pk).await?;
    Ok(true)
}

/// What one [`retry_pending_revocations`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Retried {
    /// Revoked at Apple now, and forgotten.
    pub revoked: usize,
    /// Nothing left to revoke (the token expired from the table): forgotten.
    pub gone: usize,
    /// Still owed: Apple (or DynamoDB) failed again.
    pub failed: usize,
}

/// Revocations a call retries at most (each is one Apple call within the request deadline's
/// order of magnitude; the sweeper calls again for the rest).
pub const RETRY_BATCH: usize = 20;

/// Retries the revocations that account deletions still owe Apple: the entry point for a
/// scheduled sweeper (none is deployed yet: the next round's sweeper calls this). Each is
/// independent; one failing leaves it owed and goes on with the others.
pub async fn retry_pending_revocations(ctx: &Context) -> Result<Retried, ApiError> {
    let mut done = Retried::default();
    for pk in ctx.store.pending_apple_revocations().await?.into_iter().take(RETRY_BATCH) {
        match revoke(ctx, pk).await {
            Ok(true) => done.revoked += 1,
            Ok(false) => {
                ctx.store.forget_apple_credentials(pk).await?;
                done.gone += 1;
            }
            Err(err) => {
                tracing::warn!(error = %err, user_pk = pk, "Apple credentials still not revoked");
                crate::metrics::count(crate::metrics::Metric::ProviderFailure);
                done.failed += 1;
            }
        }
    }
    Ok(done)
}

async fn revoke_token(http: &HttpClient, config: &AppleConfig, client_id: &str, token: &str) -> Result<(), ApiError> {
    let secret = client_secret(config, client_id)?;
    let form = [
        ("client_id", client_id),
        ("client_secret", secret.as_str()),
        ("token", token),
        ("token_type_hint", "refresh_token"),
    ];
    let answer = http
        .post_form(&format!("{}/auth/revoke", config.api_base), &form)
        .await
        .map_err(|e| ApiError::BadGateway(format!("apple revoke: {e}")))?;
    if answer.status != 200 {
        return Err(ApiError::BadGateway(format!("apple revoke: HTTP {}", answer.status)));
    }
    Ok(())
}

/// Sealed-value format version (the first byte): a new key derivation or cipher gets a new one.
const SEAL_V1: u8 = 1;

fn seal_key(config: &AppleConfig) -> aead::LessSafeKey {
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"apple-refresh-token-seal");
    let prk = salt.extract(config.seal_key.expose().as_bytes());
    // Expanding 32 bytes for AES-256 cannot fail: the length is far below HKDF's limit.
    let okm = prk.expand(&[b"v1"], &aead::AES_256_GCM).expect("HKDF output of one AES-256 key");
    aead::LessSafeKey::new(aead::UnboundKey::from(okm))
}

/// The associated data: a sealed value opens only as the token of this account and client.
fn bound_to(user_pk: u64, client_id: &str) -> aead::Aad<Vec<u8>> {
    aead::Aad::from(format!("apple#{user_pk}/{client_id}").into_bytes())
}

/// Apple's refresh token of account `user_pk`, sealed for storage: hex of version, nonce,
/// ciphertext and tag.
pub fn seal(config: &AppleConfig, user_pk: u64, client_id: &str, token: &str) -> Result<String, ApiError> {
    let mut nonce = [0u8; aead::NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| ApiError::Unavailable(format!("rng: {e}")))?;
    let mut sealed = token.as_bytes().to_vec();
    seal_key(config)
        .seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(nonce), bound_to(user_pk, client_id), &mut sealed)
        .map_err(|_| ApiError::Unavailable("apple token seal failed".into()))?;
    let mut out = vec![SEAL_V1];
    out.extend_from_slice(&nonce);
    out.extend(sealed);
    Ok(hex::encode(out))
}

/// The token `seal` sealed. A value that does not open (another key, another item, tampered)
/// is a corrupt item: it cannot be revoked, and the error never shows it.
fn open(config: &AppleConfig, user_pk: u64, client_id: &str, sealed: &str) -> Result<String, ApiError> {
    let corrupt = || ApiError::Unavailable(format!("apple#{user_pk}: the sealed token does not open"));
    let bytes = hex::decode(sealed).map_err(|_| corrupt())?;
    let (version, rest) = bytes.split_first().ok_or_else(corrupt)?;
    if *version != SEAL_V1 || rest.len() < aead::NONCE_LEN + aead::AES_256_GCM.tag_len() {
        return Err(corrupt());
    }
    let (nonce, ciphertext) = rest.split_at(aead::NONCE_LEN);
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| corrupt())?;
    let mut buf = ciphertext.to_vec();
    let plain = seal_key(config).open_in_place(nonce, bound_to(user_pk, client_id), &mut buf).map_err(|_| corrupt())?;
    String::from_utf8(plain.to_vec()).map_err(|_| corrupt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Secret;

    #[test]
    fn a_sealed_token_opens_only_with_its_key_in_its_own_item() {
        let config = AppleConfig::default();
        let sealed = seal(&config, 7, "com.example.app", "r_token").unwrap();
        assert!(!sealed.contains(&hex::encode("r_token")), "{sealed}");
        assert_ne!(sealed, seal(&config, 7, "com.example.app", "r_token").unwrap(), "a nonce per seal");
        assert_eq!(open(&config, 7, "com.example.app", &sealed).unwrap(), "r_token");
        assert!(open(&config, 8, "com.example.app", &sealed).is_err(), "moved to another account");
        assert!(open(&config, 7, "com.example.other", &sealed).is_err(), "another client id");
        let other = AppleConfig { seal_key: Secret::new("another-key-".repeat(4)), ..AppleConfig::default() };
        assert!(open(&other, 7, "com.example.app", &sealed).is_err(), "another key");
        let mut tampered = hex::decode(&sealed).unwrap();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(open(&config, 7, "com.example.app", &hex::encode(tampered)).is_err());
        let err = open(&config, 7, "com.example.app", "zz").unwrap_err().to_string();
        assert!(!err.contains("r_token"), "{err}");
    }
}
