//! The legacy server of `seed-api-doc.md` (API.md "Moving an app off the legacy server"): its
//! user records, as its export and its login answer carry them, checked with the API's own
//! rules (validate.rs) into an account of this backend; and, with `LEGACY_API_BASE` set (cargo
//! feature `legacy-login`), the lazy migration of POST /login/: a username unknown here is
//! checked against the legacy server's login, after the lockout reservation, and on its 200
//! the account is created here and logged in.

use crate::auth::passwords;
use crate::domain::User;
use crate::phone::Phone;
use crate::store::users::Claim;
use crate::validate::{self, Fields, ProfileInput};
use crate::ApiError;

/// Why a record is refused, as the import's rejects say: `invalid_field:<name>`.
pub fn field_reason(err: ApiError) -> String {
    match err {
        ApiError::InvalidField { field, .. } | ApiError::MissingField { field } => invalid(field),
        other => invalid(&other.id()),
    }
}

pub fn invalid(field: &str) -> String {
    format!("invalid_field:{field}")
}

/// A positive number field in canonical decimal (the export's pks and room numbers).
pub fn number(fields: &Fields, field: &'static str) -> Result<u64, String> {
    let raw = fields.required_text(field, 19).map_err(|_| invalid(field))?;
    validate::parse_positive(&raw).ok_or_else(|| invalid(field))
}

/// An RFC 3339 time, in UTC.
pub fn timestamp(raw: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(raw).ok().map(|t| t.with_timezone(&chrono::Utc))
}

/// A legacy account as this backend will hold it: pk, roomid, the NFKC username, profile,
/// `date_joined` (normalised to RFC 3339 UTC with microseconds); the legacy password hash as it
/// came (only ever stored wrapped, see auth::passwords); the identity claims (third-party id,
/// a phone the legacy server verified by SMS).
#[derive(Debug)]
pub struct LegacyUser {
    pub user: User,
    pub password_hash: Option<String>,
    pub claims: Vec<Claim>,
}

impl LegacyUser {
    /// Checks one record; the error is the reject reason (`invalid_field:<name>`,
    /// `invalid_hash`). A relative `img` (the seed's `static/...`) is resolved against
    /// `img_base` when given; without one it is refused like any non-http(s) avatar.
    pub fn parse(fields: Fields, allowed_countries: &[String], img_base: Option<&str>) -> Result<Self, String> {
        let pk = number(&fields, "pk")?;
        let roomid = number(&fields, "roomid")?;
        let username = validate::username(&fields, "username").map_err(field_reason)?;
        let legacy_hash = match fields.optional_text("password", 1024).map_err(|_| "invalid_hash".to_owned())? {
            Some(h) if !h.is_empty() => {
                passwords::check_legacy(&h).map_err(|_| "invalid_hash".to_owned())?;
                Some(h)
            }
            _ => None,
        };
        let login_type = fields.optional_text("login_type", 1).map_err(field_reason)?.unwrap_or_else(|| "0".into());
        if !matches!(login_type.as_str(), "0" | "1" | "2" | "3") {
            return Err(invalid("login_type"));
        }
        let date_joined = match fields.optional_text("date_joined", 64).map_err(field_reason)? {
            Some(raw) => {
                timestamp(&raw).ok_or_else(|| invalid("date_joined"))?.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
            }
            None => return Err(invalid("date_joined")),
        };
        let verified = match fields.optional_text("phone_verified", 5).map_err(field_reason)?.as_deref() {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(invalid("phone_verified")),
        };
        let mut claims = Vec::new();
        if fields.contains("snsid") {
            let snsid = validate::snsid(&fields, "snsid").map_err(field_reason)?;
            if login_type == "0" {
                return Err(invalid("snsid"));
            }
            claims.push(Claim::sns(&login_type, &snsid));
        }
        let mut profile = ProfileInput::parse(&fields, false).map_err(field_reason)?;
        if verified {
            let raw = profile.phone.take().unwrap_or_default();
            let phone = Phone::parse(&raw, allowed_countries).map_err(field_reason)?;
            claims.push(Claim::phone(&phone));
            profile.phone = Some(phone.e164);
        }
        let mut user = User::new(pk, username.into_string(), &login_type, roomid, date_joined);
        profile.apply_to(&mut user);
        if let Some(img) = fields.optional_text("img", validate::URL_MAX).map_err(field_reason)? {
            let img = match img_base {
                Some(base) if !img.is_empty() && !img.contains("://") => {
                    format!("{}/{}", base.trim_end_matches('/'), img.trim_start_matches('/'))
                }
                _ => img,
            };
            if !img.is_empty() {
                validate::check_http_url("img", &img).map_err(field_reason)?;
            }
            user.img = img;
        }
        Ok(LegacyUser { user, password_hash: legacy_hash, claims })
    }
}

/// Lazy migration of a username unknown here (POST /login/ only, after its lockout
/// reservation let the attempt through): the legacy server's POST `{LEGACY_API_BASE}/login/`,
/// within the providers' deadline (`SNS_PROVIDER_TIMEOUT_MS`), decides.
/// - 200 with the seed's answer: the account is created here from it (same pk, profile,
///   roomid, date_joined; argon2id of the password just checked; the counters raised above its
///   numbers) and its credentials returned for the login to go on;
/// - 401: [`ApiError::BadCredentials`], the 401 of a wrong password;
/// - anything else (unreachable, a stall past the deadline, another status, an answer that is
///   not the seed's shape or names another account): 503, nothing written.
///
/// A username known here never reaches the legacy server: its password was simply wrong.
#[cfg(feature = "legacy-login")]
pub async fn migrate(
    ctx: &crate::Context,
    username: &validate::Username,
    password: String,
) -> Result<crate::store::users::Credentials, ApiError> {
    use crate::store::import::Imported;
    use crate::store::users::Credentials;
    use serde_json::Value;

    let Some(client) = &ctx.legacy else { return Err(ApiError::BadCredentials) };
    if ctx.store.get_credentials(username).await?.is_some() {
        return Err(ApiError::BadCredentials);
    }
    let url = format!("{}/login/", ctx.config.legacy_api_base);
    let body = serde_json::json!({"username": username.as_str(), "password": password});
    let answer =
        client.post_json(&url, &body).await.map_err(|e| ApiError::Unavailable(format!("legacy login: {e}")))?;
    match answer.status {
        200 => {}
        401 => return Err(ApiError::BadCredentials),
        other => return Err(ApiError::Unavailable(format!("legacy login answered {other}"))),
    }
    let garbled = |why: &str| ApiError::Unavailable(format!("legacy login answer: {why}"));
    let mut map = match serde_json::from_slice::<Value>(&answer.body) {
        Ok(Value::Object(map)) if map.get("status").and_then(Value::as_str) == Some("SUCCESS") => map,
        _ => return Err(garbled("not the seed's success answer")),
    };
    // Its `password` is the legacy hash or "": never kept (the password itself is hashed below).
    // The login answer says nothing about verified phones or third-party ids: no claims.
    for dropped in ["password", "snsid", "phone_verified", "token"] {
        map.remove(dropped);
    }
    // The seed's own answers carry relative avatar paths (`static/...`): not an http(s) URL.
    if map.get("img").and_then(Value::as_str).is_some_and(|img| validate::check_http_url("img", img).is_err()) {
        map.remove("img");
    }
    let legacy = LegacyUser::parse(Fields::from_map(map), &ctx.config.sms.allowed_countries, None)
        .map_err(|reason| garbled(&reason))?;
    let user = legacy.user;
    if user.username != username.as_str() {
        return Err(garbled("another account's answer"));
    }
    let hash = passwords::hash(password).await?;
    ctx.store.raise_counters(user.pk, 0, user.roomid).await?;
    match ctx.store.import_user(&user, Some(&hash), &[]).await? {
        Ok(Imported::Created) => Ok(Credentials {
            username: user.username,
            user_pk: user.pk,
            password_hash: Some(hash),
            token_epoch: user.token_epoch,
        }),
        // A parallel first login created it a moment ago.
        Ok(Imported::Unchanged) => ctx.store.get_credentials(username).await?.ok_or(ApiError::Contended),
        Err(refused) => {
            Err(ApiError::Unavailable(format!("legacy account {} collides with one made here: {refused:?}", user.pk)))
        }
    }
}
