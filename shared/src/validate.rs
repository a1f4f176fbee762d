//! Input checking. Every rule a field obeys lives here, so Register, UserInfo and the login
//! endpoints cannot drift apart. Inputs are lenient about JSON types (`"age": 25` is fine) and
//! strict about content.

use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

use crate::domain::User;
use crate::ApiError;

/// The request body: a JSON object.
#[derive(Debug, Default)]
pub struct Fields(Map<String, Value>);

impl Fields {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Fields::default());
        }
        let text = std::str::from_utf8(body).map_err(|_| ApiError::MalformedBody("不是有效的 UTF-8"))?;
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(Fields(map)),
            Ok(_) => Err(ApiError::MalformedBody("必须是 JSON 对象")),
            Err(_) => Err(ApiError::MalformedBody("不是有效的 JSON")),
        }
    }

    pub fn from_map(map: Map<String, Value>) -> Self {
        Fields(map)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|v| !v.is_null())
    }

    /// A string field (integers accepted and turned into their decimal text), absent or null
    /// giving `None`. Control characters (NUL included) are refused everywhere.
    pub fn optional_text(&self, field: &'static str, max_chars: usize) -> Result<Option<String>, ApiError> {
        let text = match self.0.get(field) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => s.clone(),
            // Lenient like the seed's clients (`"age": 25`), but only for integers: a float's text
            // (`1e3`, `25.0`) is never what the user typed.
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
            Some(_) => return Err(ApiError::invalid(field, "必须是字符串")),
        };
        if text.chars().count() > max_chars {
            return Err(ApiError::invalid(field, format!("长度不能超过 {max_chars} 个字符")));
        }
        if text.chars().any(char::is_control) {
            return Err(ApiError::invalid(field, "不能包含控制字符"));
        }
        Ok(Some(text))
    }

    /// A string field that must be present and not blank.
    pub fn required_text(&self, field: &'static str, max_chars: usize) -> Result<String, ApiError> {
        match self.optional_text(field, max_chars)? {
            Some(text) if !text.trim().is_empty() => Ok(text),
            Some(_) => Err(ApiError::invalid(field, "不能为空")),
            None => Err(ApiError::MissingField { field }),
        }
    }

    /// A boolean; `"true"`/`"false"` strings are accepted like the seed's form posts.
    pub fn optional_bool(&self, field: &'static str) -> Result<Option<bool>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" => Ok(Some(true)),
            Some(Value::String(s)) if s == "false" => Ok(Some(false)),
            Some(_) => Err(ApiError::invalid(field, "必须是 true 或 false")),
        }
    }
}

pub const USERNAME_MAX: usize = 150;
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;
pub const NICKNAME_MAX: usize = 64;
pub const SHORT_TEXT_MAX: usize = 100;
pub const EMAIL_MAX: usize = 254;
/// Contact phone (profile data, never an SMS target).
pub const CONTACT_PHONE_MAX: usize = 20;
pub const URL_MAX: usize = 2048;
/// Openids (WeChat 28, QQ 32 characters) and Weibo uids are far shorter.
pub const SNSID_MAX: usize = 128;
/// Provider access tokens are opaque; WeChat's run to about 150 characters.
pub const ACCESS_TOKEN_MAX: usize = 4096;

/// A username that went through [`username`] or [`username_key`] (NFKC-normalised, not blank,
/// within the length, no control characters), or is an account's stored name: the only thing
/// the store makes `username#` and `lockout#` keys of, so no unchecked string becomes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// An account's name as stored: it was a checked `Username` when the account took it.
    pub(crate) fn of_record(name: &str) -> Self {
        Username(name.to_owned())
    }

    /// The account's name, as the store's keys take it.
    pub fn of_account(user: &User) -> Self {
        Username::of_record(&user.username)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// UTS #39's skeleton: two names that a reader cannot tell apart (`bill`, `bi11`, `biII`;
    /// Latin `paypal` and Cyrillic `раураl`) have the same one. Case is kept where it is not
    /// confusable (`Alice` and `alice` stay two names, as usernames are case-sensitive).
    pub fn skeleton(&self) -> String {
        unicode_security::skeleton(&self.0).collect()
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A username being claimed (Register, rename, SnsLogin's wish): NFKC-normalised first, so a
/// fullwidth or compatibility copy of a name is that name, then Django's rule, Unicode letters
/// allowed: letters, digits and `@ . + - _`.
pub fn username(fields: &Fields, field: &'static str) -> Result<Username, ApiError> {
    let name = username_key(fields, field)?;
    check_username(field, name.as_str())?;
    Ok(name)
}

/// A username being looked up (Login, password change): normalised like a claimed one, so the
/// look-alike reaches the same account, but not held to the character rule (no such name can
/// exist; it gets the same 401 after the same work as any unknown name).
pub fn username_key(fields: &Fields, field: &'static str) -> Result<Username, ApiError> {
    let raw = fields.required_text(field, USERNAME_MAX)?;
    let name: String = raw.nfkc().collect();
    if name.chars().count() > USERNAME_MAX {
        return Err(ApiError::invalid(field, format!("长度不能超过 {USERNAME_MAX} 个字符")));
    }
    Ok(Username(name))
}

pub fn check_username(field: &'static str, name: &str) -> Result<(), ApiError> {
    check_no_format_chars(field, name)?;
    if !name.chars().all(|c| c.is_alphanumeric() || "@.+-_".contains(c)) {
        return Err(ApiError::invalid(field, "只能包含字母、数字和 @ . + - _"));
    }
    check_single_script(field, name)
}

/// UTS #39 "Highly Restrictive": one script, or Latin with the scripts written beside it in
/// Chinese, Japanese and Korean (Han, Bopomofo, Kana, Hangul), so `张三abc` and `たろう_1` are
/// names and `аdmin` (a Cyrillic а among Latin letters) is not. A whole-script look-alike
/// passes this and is caught by its skeleton's claim instead (store `Claim::lookalike`).
pub fn check_single_script(field: &'static str, name: &str) -> Result<(), ApiError> {
    use unicode_security::{RestrictionLevel, RestrictionLevelDetection};
    // The level of the letters and digits: `@ . + - _` are not identifier characters in UTS #39
    // and would make every such name "unrestricted".
    let letters: String = name.chars().filter(|c| c.is_alphanumeric()).collect();
    if letters.as_str().detect_restriction_level() <= RestrictionLevel::HighlyRestrictive {
        Ok(())
    } else {
        Err(ApiError::invalid(field, "不能混用多种文字（可与汉字、假名、谚文搭配拉丁字母）"))
    }
}

/// Unicode format characters (category Cf: zero-width space and joiners, bidirectional
/// overrides, the BOM, soft hyphen, tags) render as nothing or reorder what is around them, so
/// a name containing one looks like another. Refused in usernames, nicknames and room aliases.
pub fn check_no_format_chars(field: &'static str, text: &str) -> Result<(), ApiError> {
    if text.chars().any(is_format_char) {
        return Err(ApiError::invalid(field, "不能包含不可见的格式字符"));
    }
    Ok(())
}

/// General category Cf, Unicode 16 (170 code points in 21 ranges; the unit test holds it to
/// the whole Unicode database of `unicode-general-category`).
pub const FORMAT_CHARS: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

pub fn is_format_char(c: char) -> bool {
    let c = c as u32;
    FORMAT_CHARS
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// A third-party user id that [`snsid`] checked: the only thing the store makes an `sns#` key of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snsid(String);

impl Snsid {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Snsid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A third-party user id (openid, uid, Apple's `sub`): letters, digits, `-`, `_` and `.`, like
/// every provider's. It becomes part of a DynamoDB key.
pub fn snsid(fields: &Fields, field: &'static str) -> Result<Snsid, ApiError> {
    let id = fields.required_text(field, SNSID_MAX)?;
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return Err(ApiError::invalid(field, "只能包含字母、数字、-、_ 和 ."));
    }
    Ok(Snsid(id))
}

/// A provider's opaque access token: printable ASCII without spaces, since it travels in a URL
/// query and a form body.
pub fn access_token(fields: &Fields, field: &'static str) -> Result<String, ApiError> {
    let token = fields.required_text(field, ACCESS_TOKEN_MAX)?;
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(field, "只能包含可见 ASCII 字符"));
    }
    Ok(token)
}

pub fn password(fields: &Fields, field: &'static str) -> Result<String, ApiError> {
    let pw = fields.optional_text(field, PASSWORD_MAX)?.ok_or(ApiError::MissingField { field })?;
    if pw.chars().count() < PASSWORD_MIN {
        return Err(ApiError::invalid(field, format!("长度至少 {PASSWORD_MIN} 个字符")));
    }
    Ok(pw)
}

/// A password being checked rather than set: any length up to the maximum, so that a rule
/// change never locks out an old password, but never unbounded input into argon2.
pub fn password_attempt(fields: &Fields, field: &'static str) -> Result<String, ApiError> {
    let pw = fields.optional_text(field, PASSWORD_MAX)?.ok_or(ApiError::MissingField { field })?;
    if pw.is_empty() {
        return Err(ApiError::invalid(field, "不能为空"));
    }
    Ok(pw)
}

/// `room_alias` when present (POST/PUT /rooms/, and the import of legacy rooms): not blank, no
/// surrounding white space, no format characters, at most `max` characters; stored NFKC.
pub fn room_alias(fields: &Fields, max: usize) -> Result<Option<String>, ApiError> {
    if !fields.contains("room_alias") {
        return Ok(None);
    }
    // The documented rules hold for what the client sent (openapi.yaml `RoomAlias`)...
    let raw = fields.required_text("room_alias", max)?;
    if raw.trim() != raw {
        return Err(ApiError::invalid("room_alias", "首尾不能有空白"));
    }
    check_no_format_chars("room_alias", &raw)?;
    // ...then NFKC like a username: `１２６２` is `1262`, and a fullwidth copy of a taken alias
    // is taken. A compatibility character can decompose to a space and a mark (`¨` is
    // " \u{308}"): the blank it brings is dropped, not held against the client.
    let alias: String = raw.nfkc().collect();
    Ok(Some(alias.trim().to_owned()))
}

pub fn parse_pk(raw: &str) -> Result<u64, ApiError> {
    parse_positive(raw).ok_or_else(|| ApiError::invalid("pk", "必须是正整数"))
}

/// A positive integer in canonical decimal form: no sign, no leading zero, at most 19 digits (so
/// it always fits a u64 and arithmetic on it has room). One spelling per number, as
/// openapi.yaml's `^[1-9][0-9]{0,18}$` says.
pub fn parse_positive(raw: &str) -> Option<u64> {
    let canonical = (1..=19).contains(&raw.len()) && !raw.starts_with('0') && raw.bytes().all(|b| b.is_ascii_digit());
    canonical.then(|| raw.parse().ok()).flatten()
}

/// An http(s) URL with a host; anything else (`javascript:`, `data:`) could run in a client.
pub fn http_url(fields: &Fields, field: &'static str) -> Result<String, ApiError> {
    let url = fields.required_text(field, URL_MAX)?;
    check_http_url(field, &url)?;
    Ok(url)
}

pub fn check_http_url(field: &'static str, url: &str) -> Result<(), ApiError> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| ApiError::invalid(field, "必须是 http(s) 地址"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || url.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid(field, "必须是 http(s) 地址"));
    }
    Ok(())
}

/// The optional profile fields every account-writing endpoint accepts.
#[derive(Debug, Default, Clone)]
pub struct ProfileInput {
    pub nickname: Option<String>,
    pub sex: Option<String>,
    pub age: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub country: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub career: Option<String>,
}

impl ProfileInput {
    /// Overwrites the profile fields this input carries on `user`; absent ones stay as they are.
    /// (Input parsing knows the domain, never the other way round.)
    pub fn apply_to(&self, user: &mut User) {
        let pairs = [
            (&mut user.nickname, &self.nickname),
            (&mut user.sex, &self.sex),
            (&mut user.age, &self.age),
            (&mut user.email, &self.email),
            (&mut user.phone, &self.phone),
            (&mut user.country, &self.country),
            (&mut user.province, &self.province),
            (&mut user.city, &self.city),
            (&mut user.career, &self.career),
        ];
        for (slot, value) in pairs {
            if let Some(v) = value {
                slot.clone_from(v);
            }
        }
    }

    /// Reads and checks the profile fields; `nickname_required` for account creation.
    pub fn parse(fields: &Fields, nickname_required: bool) -> Result<Self, ApiError> {
        let nickname = if nickname_required {
            Some(fields.required_text("nickname", NICKNAME_MAX)?)
        } else {
            match fields.optional_text("nickname", NICKNAME_MAX)? {
                Some(n) if n.trim().is_empty() => return Err(ApiError::invalid("nickname", "不能为空")),
                other => other,
            }
        };
        if let Some(nickname) = &nickname {
            check_no_format_chars("nickname", nickname)?;
        }
        let sex = fields.optional_text("sex", 1)?;
        if let Some(sex) = &sex {
            if !matches!(sex.as_str(), "0" | "1" | "2") {
                return Err(ApiError::invalid("sex", "必须是 0、1 或 2"));
            }
        }
        let age = fields.optional_text("age", 3)?;
        if let Some(age) = &age {
            if !age.is_empty()
                && (!age.bytes().all(|b| b.is_ascii_digit()) || age.parse::<u32>().map_or(true, |a| a > 150))
            {
                return Err(ApiError::invalid("age", "必须是 0 到 150 的整数"));
            }
        }
        let email = fields.optional_text("email", EMAIL_MAX)?;
        if let Some(email) = &email {
            if !email.is_empty() && !is_email(email) {
                return Err(ApiError::invalid("email", "不是有效的邮箱地址"));
            }
        }
        let phone = fields.optional_text("phone", CONTACT_PHONE_MAX)?;
        if let Some(phone) = &phone {
            let digits = phone.strip_prefix('+').unwrap_or(phone);
            if !phone.is_empty()
                && (digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b' '))
            {
                return Err(ApiError::invalid("phone", "只能包含数字、空格、- 和开头的 +"));
            }
        }
        Ok(ProfileInput {
            nickname,
            sex,
            age,
            email,
            phone,
            country: fields.optional_text("country", SHORT_TEXT_MAX)?,
            province: fields.optional_text("province", SHORT_TEXT_MAX)?,
            city: fields.optional_text("city", SHORT_TEXT_MAX)?,
            career: fields.optional_text("career", SHORT_TEXT_MAX)?,
        })
    }
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_table_is_unicode_category_cf() {
        use unicode_general_category::{get_general_category, GeneralCategory};
        let mut differ = Vec::new();
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            if is_format_char(c) != (get_general_category(c) == GeneralCategory::Format) {
                differ.push(format!("U+{:04X}", c as u32));
            }
        }
        assert!(differ.is_empty(), "table and Unicode disagree on {differ:?}");
        assert!(FORMAT_CHARS.windows(2).all(|w| w[0].1 < w[1].0), "sorted, disjoint");
    }

    #[test]
    fn usernames_are_nfkc_and_free_of_format_characters() {
        let get = |name: &str| {
            let mut map = Map::new();
            map.insert("username".into(), name.into());
            username(&Fields::from_map(map), "username")
        };
        let get = |name: &str| get(name).map(Username::into_string);
        assert_eq!(get("ｎｆ２ｃ４").unwrap(), "nf2c4");
        assert_eq!(get("\u{FB01}le").unwrap(), "file");
        assert_eq!(get("x\u{00B2}").unwrap(), "x2");
        assert_eq!(get("Alice").unwrap(), "Alice", "case is kept");
        assert_eq!(get("小明").unwrap(), "小明");
        for bad in ["lob\u{200B}by", "a\u{202E}b", "\u{FEFF}x", "a\u{00AD}b"] {
            assert!(get(bad).is_err(), "{bad:?}");
        }
        // A character whose compatibility form is 18 characters long still meets the limit.
        assert!(get(&"\u{FDFA}".repeat(10)).is_err());
    }

    #[test]
    fn pk_must_be_a_positive_integer() {
        assert_eq!(parse_pk("42").unwrap(), 42);
        assert_eq!(parse_pk("9999999999999999999").unwrap(), 9_999_999_999_999_999_999);
        for bad in ["", "0", "007", "-1", "+1", "abc", "1.5", "99999999999999999999", "１", " 1"] {
            assert!(parse_pk(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_must_be_http() {
        assert!(check_http_url("icon", "https://cdn.example.com/a.png").is_ok());
        for bad in ["javascript:alert(1)", "data:image/png;base64,xx", "https://", "ftp://x/y", "http://a b"] {
            assert!(check_http_url("icon", bad).is_err(), "{bad}");
        }
    }

    fn fields(json: Value) -> Fields {
        match json {
            Value::Object(map) => Fields::from_map(map),
            other => panic!("{other}"),
        }
    }

    fn refused(result: Result<impl std::fmt::Debug, ApiError>) -> String {
        result.map(|v| panic!("accepted: {v:?}")).unwrap_err().id().into_owned()
    }

    #[test]
    fn a_body_is_utf8_json_object_or_nothing() {
        assert!(!Fields::parse(b"  ").unwrap().contains("x"), "an empty body is no fields");
        assert_eq!(refused(Fields::parse(b"\xff")), "malformed_body");
        assert_eq!(refused(Fields::parse(b"[1]")), "malformed_body");
        assert_eq!(refused(Fields::parse(b"{\"a\":")), "malformed_body");
        assert!(Fields::parse(br#"{"a":1}"#).unwrap().contains("a"));
    }

    #[test]
    fn text_takes_integers_but_not_floats_and_never_control_characters() {
        let f = fields(serde_json::json!({"age": 25, "f": 25.0, "b": true, "c": "a\u{0}b", "n": null, "long": "ab"}));
        assert_eq!(f.optional_text("age", 3).unwrap().as_deref(), Some("25"));
        assert_eq!(refused(f.optional_text("f", 9)), "invalid_f");
        assert_eq!(refused(f.optional_text("b", 9)), "invalid_b");
        assert_eq!(refused(f.optional_text("c", 9)), "invalid_c");
        assert_eq!(refused(f.optional_text("long", 1)), "invalid_long", "longer than the limit");
        assert_eq!(f.optional_text("n", 9).unwrap(), None, "null is absent");
    }

    #[test]
    fn required_text_is_present_and_not_blank() {
        let f = fields(serde_json::json!({"blank": "  ", "ok": "x"}));
        assert_eq!(refused(f.required_text("blank", 9)), "invalid_blank");
        assert_eq!(refused(f.required_text("absent", 9)), "missing_absent");
        assert_eq!(f.required_text("ok", 9).unwrap(), "x");
    }

    #[test]
    fn booleans_are_booleans_or_their_words() {
        let f = fields(serde_json::json!({"t": "true", "f": false, "one": 1, "yes": "yes"}));
        assert_eq!(f.optional_bool("t").unwrap(), Some(true));
        assert_eq!(f.optional_bool("f").unwrap(), Some(false));
        assert_eq!(f.optional_bool("absent").unwrap(), None);
        assert_eq!(refused(f.optional_bool("one")), "invalid_one");
        assert_eq!(refused(f.optional_bool("yes")), "invalid_yes");
    }

    #[test]
    fn usernames_being_claimed_follow_the_character_rule_and_lookups_do_not() {
        let f = fields(serde_json::json!({"u": "a b", "ok": "a.b+c-d_e@f", "long": "x".repeat(USERNAME_MAX + 1)}));
        assert_eq!(refused(username(&f, "u")), "invalid_u");
        assert_eq!(username_key(&f, "u").unwrap().as_str(), "a b", "looked up, never found");
        assert_eq!(username(&f, "ok").unwrap().as_str(), "a.b+c-d_e@f");
        assert_eq!(refused(username_key(&f, "long")), "invalid_long");
    }

    #[test]
    fn usernames_are_one_script_or_latin_beside_cjk() {
        for ok in
            ["alice", "a.b+c-d_e@f", "张三", "张三abc", "たろう_1", "タロウ太郎", "김철수kim", "иван", "ελένη", "bob1"]
        {
            check_username("u", ok).unwrap_or_else(|e| panic!("{ok}: {e:?}"));
        }
        // A Cyrillic а, о or е among Latin letters; Greek beside Latin; Cyrillic beside Han.
        for mixed in ["\u{430}dmin", "g\u{43e}\u{43e}gle", "p\u{3b1}ypal", "张三\u{430}"] {
            assert_eq!(refused(check_username("u", mixed)), "invalid_u", "{mixed}");
        }
    }

    #[test]
    fn look_alike_names_share_a_skeleton_and_different_names_do_not() {
        let skeleton = |name: &str| Username(name.to_owned()).skeleton();
        assert_eq!(skeleton("bill"), skeleton("bi11"));
        assert_eq!(skeleton("bill"), skeleton("biII"));
        assert_eq!(skeleton("modern"), skeleton("rnodern"));
        // Latin `paypal` and the same letters in Cyrillic (р а у р а l).
        assert_eq!(skeleton("paypal"), skeleton("\u{440}\u{430}\u{443}\u{440}\u{430}l"));
        assert_ne!(skeleton("alice"), skeleton("Alice"), "usernames stay case-sensitive");
        assert_ne!(skeleton("bob"), skeleton("rob"));
        assert_ne!(skeleton("张三"), skeleton("张四"));
    }

    #[test]
    fn room_aliases_are_nfkc_without_blanks_or_format_characters() {
        let f = fields(
            serde_json::json!({"full": "\u{ff11}\u{ff12}\u{ff16}\u{ff12}", "blank": " 1262", "zw": "12\u{200b}62", "diaeresis": "\u{a8}x"}),
        );
        let alias = |name: &str| room_alias(&fields(serde_json::json!({"room_alias": f.0[name].clone()})), 64);
        assert_eq!(alias("full").unwrap().as_deref(), Some("1262"));
        assert_eq!(
            alias("diaeresis").unwrap().as_deref(),
            Some("\u{308}x"),
            "a valid alias NFKC turns into ' \u{308}x'"
        );
        assert_eq!(refused(alias("blank")), "invalid_room_alias");
        assert_eq!(refused(alias("zw")), "invalid_room_alias");
    }

    #[test]
    fn snsids_are_ascii_letters_digits_dash_underscore() {
        let f = fields(
            serde_json::json!({"ok": "oXyZ-1_2", "slash": "a/b", "hash": "a#b", "long": "a".repeat(SNSID_MAX + 1)}),
        );
        assert_eq!(snsid(&f, "ok").unwrap().as_str(), "oXyZ-1_2");
        for bad in ["slash", "hash", "long"] {
            assert_eq!(refused(snsid(&f, bad)), format!("invalid_{bad}"), "a key separator or overlong id");
        }
        assert_eq!(refused(snsid(&f, "absent")), "missing_absent");
    }

    #[test]
    fn access_tokens_are_visible_ascii() {
        let f = fields(serde_json::json!({"ok": "AbC.123-_~", "space": "a b", "wide": "ａ"}));
        assert_eq!(access_token(&f, "ok").unwrap(), "AbC.123-_~");
        assert_eq!(refused(access_token(&f, "space")), "invalid_space");
        assert_eq!(refused(access_token(&f, "wide")), "invalid_wide");
    }

    #[test]
    fn new_passwords_have_a_minimum_and_attempts_only_need_to_exist() {
        let f = fields(
            serde_json::json!({"short": "1234567", "ok": "12345678", "empty": "", "long": "p".repeat(PASSWORD_MAX + 1)}),
        );
        assert_eq!(refused(password(&f, "short")), "invalid_short");
        assert_eq!(password(&f, "ok").unwrap(), "12345678");
        assert_eq!(password_attempt(&f, "short").unwrap(), "1234567", "an old shorter password still logs in");
        assert_eq!(refused(password_attempt(&f, "empty")), "invalid_empty");
        assert_eq!(refused(password_attempt(&f, "long")), "invalid_long", "argon2 never gets unbounded input");
        assert_eq!(refused(password(&f, "absent")), "missing_absent");
    }

    fn profile(json: Value) -> Result<ProfileInput, ApiError> {
        ProfileInput::parse(&fields(json), false)
    }

    #[test]
    fn a_nickname_is_required_on_creation_never_blank_and_free_of_format_characters() {
        assert_eq!(refused(ProfileInput::parse(&fields(serde_json::json!({})), true)), "missing_nickname");
        assert!(profile(serde_json::json!({})).unwrap().nickname.is_none(), "optional on update");
        assert_eq!(refused(profile(serde_json::json!({"nickname": " "}))), "invalid_nickname");
        assert_eq!(refused(profile(serde_json::json!({"nickname": "a\u{200B}b"}))), "invalid_nickname");
    }

    #[test]
    fn sex_is_0_1_or_2() {
        for ok in ["0", "1", "2"] {
            assert_eq!(profile(serde_json::json!({"sex": ok})).unwrap().sex.as_deref(), Some(ok));
        }
        assert_eq!(profile(serde_json::json!({"sex": 1})).unwrap().sex.as_deref(), Some("1"));
        for bad in [serde_json::json!("3"), serde_json::json!("m"), serde_json::json!(""), serde_json::json!("10")] {
            assert_eq!(refused(profile(serde_json::json!({"sex": bad}))), "invalid_sex");
        }
    }

    #[test]
    fn age_is_empty_or_0_to_150() {
        for ok in ["", "0", "150"] {
            assert_eq!(profile(serde_json::json!({"age": ok})).unwrap().age.as_deref(), Some(ok));
        }
        for bad in ["151", "-1", "1a", "+5"] {
            assert_eq!(refused(profile(serde_json::json!({"age": bad}))), "invalid_age", "{bad}");
        }
    }

    #[test]
    fn profile_email_is_empty_or_an_address() {
        assert!(profile(serde_json::json!({"email": ""})).is_ok());
        assert_eq!(refused(profile(serde_json::json!({"email": "a@b"}))), "invalid_email");
    }

    #[test]
    fn contact_phone_is_digits_spaces_dashes_and_a_leading_plus() {
        for ok in ["", "+86 138-0013-8000", "010 1234"] {
            assert!(profile(serde_json::json!({"phone": ok})).is_ok(), "{ok}");
        }
        for bad in ["+", "1+2", "tel:1", "１２３"] {
            assert_eq!(refused(profile(serde_json::json!({"phone": bad}))), "invalid_phone", "{bad}");
        }
    }

    #[test]
    fn place_and_career_are_short_text() {
        let long = "x".repeat(SHORT_TEXT_MAX + 1);
        for field in ["country", "province", "city", "career"] {
            assert_eq!(refused(profile(serde_json::json!({field: long}))), format!("invalid_{field}"));
        }
    }

    #[test]
    fn emails() {
        assert!(is_email("never@gmail.com"));
        for bad in ["a", "a@b", "@b.com", "a@@b.com", "a b@c.com", "a@.com"] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
