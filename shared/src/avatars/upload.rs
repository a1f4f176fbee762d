//! The three bodies PUT /users/icon/{pk}/ takes (API.md "Avatar images"), told apart by
//! `Content-Type`: the seed's JSON with an `icon` URL, the raw image, or a multipart form with
//! a file field `icon` (and `token`). Only the form is read from the header; the image's type is
//! read from its bytes later (picture.rs).

use serde_json::{Map, Value};

use super::picture::MAX_BYTES;
use crate::http::ApiRequest;
use crate::validate::Fields;
use crate::ApiError;

/// A form's fields besides the file, and its boundaries: far less than this.
const FORM_OVERHEAD: usize = 64 * 1024;

pub enum Upload {
    /// The JSON body of the seed: `icon` (a URL) and perhaps `token`.
    Url(Fields),
    /// The image's bytes, and a form's `token` field when it had one.
    Image { bytes: Vec<u8>, fields: Option<Fields> },
}

/// Takes the body out of `req` (a 4 MiB image is not copied) and says which form it is.
/// `max_json` is the API's body limit, which the JSON form keeps.
pub fn read(req: &mut ApiRequest, max_json: usize) -> Result<Upload, ApiError> {
    let content_type =
        req.headers.get(lambda_http::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let (media, params) = content_type.split_once(';').unwrap_or((content_type, ""));
    let params = params.to_owned();
    let body = std::mem::take(&mut req.body);
    match media.trim().to_ascii_lowercase().as_str() {
        "image/jpeg" | "image/png" | "image/webp" => {
            if body.len() > MAX_BYTES {
                return Err(ApiError::ImageTooLarge(format!("{} bytes", body.len())));
            }
            Ok(Upload::Image { bytes: body, fields: None })
        }
        other if other.starts_with("image/") => Err(ApiError::UnsupportedImage(format!("declared {other}"))),
        "multipart/form-data" => {
            if body.len() > MAX_BYTES + FORM_OVERHEAD {
                return Err(ApiError::ImageTooLarge(format!("{} byte form", body.len())));
            }
            let boundary = boundary(&params).ok_or(ApiError::MalformedBody("multipart 缺少 boundary"))?;
            form(&body, &boundary)
        }
        _ => {
            if body.len() > max_json {
                return Err(ApiError::BodyTooLarge(max_json));
            }
            Ok(Upload::Url(Fields::parse(&body)?))
        }
    }
}

/// The `boundary` parameter (RFC 2046: 1 to 70 characters, maybe quoted, case-sensitive).
fn boundary(params: &str) -> Option<String> {
    params.split(';').find_map(|p| {
        let (name, value) = p.trim().split_once('=')?;
        let value = value.trim_matches('"');
        (name.eq_ignore_ascii_case("boundary") && (1..=70).contains(&value.len())).then(|| value.to_owned())
    })
}

fn form(body: &[u8], boundary: &str) -> Result<Upload, ApiError> {
    let mut icon = None;
    let mut token = None;
    for (name, content) in parts(body, boundary)? {
        match name.as_str() {
            "icon" => {
                if content.len() > MAX_BYTES {
                    return Err(ApiError::ImageTooLarge(format!("{} bytes", content.len())));
                }
                icon = Some(content.to_vec());
            }
            "token" => {
                let text = std::str::from_utf8(content).map_err(|_| ApiError::Unauthorized)?;
                token = Some(text.trim().to_owned());
            }
            _ => {}
        }
    }
    let bytes = icon.ok_or(ApiError::MissingField { field: "icon" })?;
    let fields = token.map(|t| Fields::from_map(Map::from_iter([("token".to_owned(), Value::String(t))])));
    Ok(Upload::Image { bytes, fields })
}

/// The (name, content) of each part of a multipart/form-data body (RFC 7578).
fn parts<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<(String, &'a [u8])>, ApiError> {
    let malformed = || ApiError::MalformedBody("multipart 格式错误");
    let delimiter = format!("--{boundary}");
    let next_part = format!("\r\n--{boundary}");
    let start = find(body, delimiter.as_bytes()).ok_or_else(malformed)?;
    let mut rest = &body[start + delimiter.len()..];
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest.strip_prefix(b"\r\n").ok_or_else(malformed)?;
        let head_end = find(rest, b"\r\n\r\n").ok_or_else(malformed)?;
        let head = std::str::from_utf8(&rest[..head_end]).map_err(|_| malformed())?;
        let content = &rest[head_end + 4..];
        let end = find(content, next_part.as_bytes()).ok_or_else(malformed)?;
        parts.push((field_name(head).ok_or_else(malformed)?, &content[..end]));
        rest = &content[end + next_part.len()..];
    }
}

/// `name` of a part's `Content-Disposition: form-data; name="icon"; filename="a.jpg"`.
fn field_name(head: &str) -> Option<String> {
    let line = head.split("\r\n").find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
    line.split(';').find_map(|p| Some(p.trim().strip_prefix("name=")?.trim_matches('"').to_owned()))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(i) = haystack.get(from..)?.iter().position(|b| *b == first) {
        let at = from + i;
        if haystack.get(at..at + needle.len())? == needle {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut out = b"preamble\r\n".to_vec();
        for (name, filename, content) in parts {
            out.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes());
            if let Some(f) = filename {
                out.extend(format!("; filename=\"{f}\"\r\nContent-Type: image/png").as_bytes());
            }
            out.extend(b"\r\n\r\n");
            out.extend(*content);
            out.extend(b"\r\n");
        }
        out.extend(format!("--{boundary}--\r\n").as_bytes());
        out
    }

    #[test]
    fn a_form_gives_its_file_and_token_even_when_the_file_holds_crlf_and_dashes() {
        let file: &[u8] = b"\x89PNG\r\n--\r\n-not-the-boundary\r\n\x00\xff";
        let raw = body("XyZ", &[("token", None, b"abc"), ("icon", Some("a.png"), file)]);
        let parts = parts(&raw, "XyZ").unwrap();
        assert_eq!(parts, vec![("token".to_owned(), &b"abc"[..]), ("icon".to_owned(), file)]);
        let Upload::Image { bytes, fields } = form(&raw, "XyZ").unwrap() else { panic!("an image") };
        assert_eq!(bytes, file);
        assert_eq!(fields.unwrap().optional_text("token", 64).unwrap().as_deref(), Some("abc"));
    }

    #[test]
    fn a_form_without_icon_is_missing_the_field_and_a_broken_one_is_malformed() {
        let raw = body("b", &[("token", None, b"abc")]);
        assert!(matches!(form(&raw, "b"), Err(ApiError::MissingField { field: "icon" })));
        let cut = &raw[..raw.len() - 12];
        assert!(matches!(parts(cut, "b"), Err(ApiError::MalformedBody(_))));
        assert!(matches!(parts(b"no delimiter at all", "b"), Err(ApiError::MalformedBody(_))));
    }

    #[test]
    fn the_boundary_parameter_may_be_quoted() {
        assert_eq!(boundary(" charset=utf-8; boundary=\"a b\"").as_deref(), Some("a b"));
        assert_eq!(
            boundary(" Boundary=----WebKitFormBoundary7MA4YWxk").as_deref(),
            Some("----WebKitFormBoundary7MA4YWxk")
        );
        assert_eq!(boundary(" boundary="), None);
    }
}
