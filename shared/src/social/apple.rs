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

use std::collections::HashMap;
use std::time::Instant;

use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::HttpClient;
use crate::config::{AppleConfig, APPLE_ISSUER};
use crate::store::AppleCredentials;
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

/// Revokes account `user_pk`'s stored Apple refresh token at Apple, then forgets it. `Ok(false)`
/// when there is none. The account deletion path calls this; a failure is for it to log (API.md:
/// it does not block the deletion), and the credentials are kept so a retry can revoke them.
pub async fn revoke(ctx: &Context, user_pk: u64) -> Result<bool, ApiError> {
    let Some(creds) = ctx.store.apple_credentials(user_pk).await? else {
        return Ok(false);
    };
    revoke_token(ctx.providers.http(), &ctx.config.sns.apple, &creds).await?;
    ctx.store.delete_apple_credentials(user_pk).await?;
    Ok(true)
}

async fn revoke_token(http: &HttpClient, config: &AppleConfig, creds: &AppleCredentials) -> Result<(), ApiError> {
    let secret = client_secret(config, &creds.client_id)?;
    let form = [
        ("client_id", creds.client_id.as_str()),
        ("client_secret", secret.as_str()),
        ("token", creds.refresh_token.as_str()),
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
