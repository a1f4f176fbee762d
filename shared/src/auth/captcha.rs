//! SMS codes: 6 digits from the OS CSPRNG, stored only as an HMAC keyed with a server secret
//! and bound to the phone and to the purpose it was sent for, so a table dump reveals no code,
//! no code works for another number, and a login code cannot reset a password.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::Purpose;
use crate::store::captcha::Matched;
use crate::validate::Fields;
use crate::{clock, ApiError, Context};

/// The optional `purpose` field of POST /phonelogin/: absent means login; anything else
/// unknown is 400.
pub fn purpose(fields: &Fields) -> Result<Purpose, ApiError> {
    let Some(raw) = fields.optional_text("purpose", 16)? else { return Ok(Purpose::Login) };
    Purpose::ALL
        .into_iter()
        .find(|p| p.as_str() == raw)
        .ok_or_else(|| ApiError::invalid("purpose", "必须是 login、reset、bind 或 delete"))
}

/// Checks the code sent to `phone_e164`: the one check every endpoint that takes a captcha goes
/// through (PhoneLogin, PhoneBind, PasswordReset, AccountDelete). The try is counted before the
/// comparison (see `Store::try_captcha`); a match is not used up here: the caller puts
/// `Matched::consume` into the transaction of the change it grants, so a refused change (409,
/// 404 `no_account`, an outage) leaves the code usable and two concurrent uses cannot both win.
/// Wrong tries are counted against `source_ip`'s budget and the phone's ceiling.
pub async fn redeem(
    ctx: &Context,
    phone_e164: &str,
    source_ip: &str,
    purpose: Purpose,
    code: &str,
) -> Result<Matched, ApiError> {
    check_format(code)?;
    let cfg = &ctx.config.sms;
    let hash = digest(cfg.code_secret.expose(), phone_e164, purpose, code);
    Ok(ctx.store.try_captcha(phone_e164, source_ip, &hash, cfg, clock::now_unix()).await?)
}

pub fn generate() -> Result<String, ApiError> {
    // Rejection sampling: 4_294_000_000 is the largest multiple of 10^6 below 2^32, so every
    // code is equally likely.
    loop {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b).map_err(|e| ApiError::Unavailable(format!("rng: {e}")))?;
        let x = u32::from_le_bytes(b);
        if x < 4_294_000_000 {
            return Ok(format!("{:06}", x % 1_000_000));
        }
    }
}

pub fn digest(secret: &str, phone_e164: &str, purpose: Purpose, code: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(phone_e164.as_bytes());
    mac.update(b"\0");
    mac.update(purpose.as_str().as_bytes());
    mac.update(b"\0");
    mac.update(code.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Exactly six ASCII digits.
pub fn check_format(code: &str) -> Result<(), ApiError> {
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(ApiError::invalid("captcha", "必须是 6 位数字"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_digests_bind_the_phone_and_the_purpose() {
        for _ in 0..100 {
            let c = generate().unwrap();
            assert!(check_format(&c).is_ok(), "{c}");
        }
        let login = Purpose::Login;
        let a = digest("k", "+8613800138000", login, "123456");
        assert_eq!(a, digest("k", "+8613800138000", login, "123456"));
        assert_ne!(a, digest("k", "+8613800138001", login, "123456"));
        assert_ne!(a, digest("other", "+8613800138000", login, "123456"));
        for other in [Purpose::Reset, Purpose::Bind, Purpose::Delete] {
            assert_ne!(a, digest("k", "+8613800138000", other, "123456"), "{other:?}");
        }
        assert!(!a.contains("123456"));
    }

    #[test]
    fn the_purpose_is_login_unless_the_request_names_another() {
        let fields = |v: serde_json::Value| Fields::from_map(v.as_object().unwrap().clone());
        assert_eq!(purpose(&fields(serde_json::json!({}))).unwrap(), Purpose::Login);
        for p in Purpose::ALL {
            assert_eq!(purpose(&fields(serde_json::json!({"purpose": p.as_str()}))).unwrap(), p);
        }
        assert!(purpose(&fields(serde_json::json!({"purpose": "Reset"}))).is_err());
        assert!(purpose(&fields(serde_json::json!({"purpose": "admin"}))).is_err());
    }
}
