//! Phone numbers for SMS login. All validation is ours: SNS (and moto) accept nearly anything.

use crate::ApiError;

/// A number in E.164 (`+8613800138000`) whose country calling code is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    pub e164: String,
    pub country: String,
}

impl Phone {
    /// `13800138000` (an 11-digit mainland mobile) becomes `+8613800138000`; `+<cc><number>` is
    /// accepted when `<cc>` is in `allowed`; everything else is refused.
    pub fn parse(raw: &str, allowed: &[String]) -> Result<Phone, ApiError> {
        let invalid = || ApiError::invalid("phone", "必须是 11 位中国大陆手机号或 +国家码 开头的号码");
        if let Some(digits) = raw.strip_prefix('+') {
            if !(8..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            let country = allowed
                .iter()
                .find(|cc| digits.starts_with(cc.as_str()))
                .ok_or_else(|| ApiError::invalid("phone", "不支持该国家或地区的号码"))?;
            if country == "86" && !is_mainland_mobile(&digits[2..]) {
                return Err(invalid());
            }
            return Ok(Phone { e164: raw.to_owned(), country: country.clone() });
        }
        if is_mainland_mobile(raw) {
            if !allowed.iter().any(|cc| cc == "86") {
                return Err(ApiError::invalid("phone", "不支持该国家或地区的号码"));
            }
            return Ok(Phone { e164: format!("+86{raw}"), country: "86".into() });
        }
        Err(invalid())
    }

    /// The national number, without the calling code.
    pub fn national(&self) -> &str {
        &self.e164[1 + self.country.len()..]
    }

    /// `138****8000`: enough to recognise one's own number, not to read someone else's.
    pub fn masked(&self) -> String {
        let n = self.national();
        if n.len() <= 7 {
            return format!("{}****", &n[..n.len().min(3)]);
        }
        format!("{}****{}", &n[..3], &n[n.len() - 4..])
    }
}

fn is_mainland_mobile(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec!["86".into(), "852".into()]
    }

    #[test]
    fn a_mainland_mobile_is_11_digits_starting_13_to_19() {
        assert!(is_mainland_mobile("13800138000") && is_mainland_mobile("19912345678"));
        for bad in ["12800138000", "1380013800", "138001380000", "23800138000", "1380013800x"] {
            assert!(!is_mainland_mobile(bad), "{bad}");
        }
    }

    #[test]
    fn a_plus_number_needs_an_allowed_country_and_8_to_15_digits() {
        let only_86 = vec!["86".to_owned()];
        assert!(Phone::parse("+85291234567", &only_86).is_err(), "852 not allowed");
        assert!(Phone::parse("13800138000", &["852".to_owned()]).is_err(), "a bare mobile is a mainland one");
        assert!(Phone::parse("+8521234", &allowed()).is_err(), "7 digits");
        assert!(Phone::parse(&format!("+852{}", "1".repeat(13)), &allowed()).is_err(), "16 digits");
        assert!(Phone::parse("+8612800138000", &allowed()).is_err(), "+86 holds a mainland mobile");
    }

    #[test]
    fn masked_shows_three_and_four_digits() {
        assert_eq!(Phone::parse("+85291234567", &allowed()).unwrap().masked(), "912****4567");
        assert_eq!(Phone::parse("+85212345", &allowed()).unwrap().masked(), "123****", "short: no tail");
        assert_eq!(Phone::parse("13800138000", &allowed()).unwrap().national(), "13800138000");
    }

    #[test]
    fn normalises_and_refuses() {
        assert_eq!(Phone::parse("13800138000", &allowed()).unwrap().e164, "+8613800138000");
        assert_eq!(Phone::parse("+8613800138000", &allowed()).unwrap().masked(), "138****8000");
        assert_eq!(Phone::parse("+85291234567", &allowed()).unwrap().country, "852");
        for bad in [
            "123",
            "+999123",
            "abc",
            "1380013800a",
            "12800138000",
            &"1".repeat(30),
            "",
            "+86123",
            "+1 650 555 0100",
            "+4420794600",
        ] {
            assert!(Phone::parse(bad, &allowed()).is_err(), "{bad}");
        }
    }
}
