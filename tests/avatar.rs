//! Avatar uploads (API.md "Avatar images"): HTTP into the local server, DynamoDB Local and
//! moto's S3 underneath. Test pictures are made here with the `image` crate; the EXIF block of
//! the GPS/orientation case is written by hand.

use std::collections::BTreeSet;
use std::io::Cursor;

use api_tests::{local_avatars, sdk_config, unique, Answer, TestApi};
use image::{ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use serde_json::{json, Value};
use shared::avatars::{picture, Objects};
use shared::config::Tables;
use shared::{Config, Context};

const RED: [u8; 3] = [220, 20, 20];
const BLUE: [u8; 3] = [20, 20, 220];

/// `w`×`h`, its top half red and its bottom half blue: which way it was turned shows.
fn halves(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |_, y| Rgb(if y < h / 2 { RED } else { BLUE }))
}

fn encode(image: &image::DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    encode(&halves(w, h).into(), ImageFormat::Jpeg)
}

fn png(w: u32, h: u32) -> Vec<u8> {
    encode(&halves(w, h).into(), ImageFormat::Png)
}

/// An APP1 EXIF segment: IFD0 with Orientation 6 ("rotate 90° clockwise to show") and a GPS IFD
/// with latitude N 39° 54' 12.34" (Beijing).
fn exif_app1() -> Vec<u8> {
    let mut tiff = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    let entry = |tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        [&tag.to_le_bytes()[..], &kind.to_le_bytes(), &count.to_le_bytes(), &value].concat()
    };
    // IFD0 at 8: two entries, then no next IFD; the GPS IFD follows at 8 + 2 + 24 + 4 = 38.
    tiff.extend(2u16.to_le_bytes());
    tiff.extend(entry(0x0112, 3, 1, [6, 0, 0, 0]));
    tiff.extend(entry(0x8825, 4, 1, 38u32.to_le_bytes()));
    tiff.extend(0u32.to_le_bytes());
    // GPS IFD at 38: LatitudeRef "N", Latitude (3 rationals at 38 + 2 + 24 + 4 = 68).
    tiff.extend(2u16.to_le_bytes());
    tiff.extend(entry(1, 2, 2, *b"N\0\0\0"));
    tiff.extend(entry(2, 5, 3, 68u32.to_le_bytes()));
    tiff.extend(0u32.to_le_bytes());
    for (num, den) in [(39u32, 1u32), (54, 1), (1234, 100)] {
        tiff.extend(num.to_le_bytes());
        tiff.extend(den.to_le_bytes());
    }
    let mut segment = vec![0xFF, 0xE1];
    segment.extend(((2 + 6 + tiff.len()) as u16).to_be_bytes());
    segment.extend(b"Exif\0\0");
    segment.extend(tiff);
    segment
}

/// `jpeg` with `app1` after its JFIF APP0 segment.
fn with_segment(jpeg: &[u8], app1: &[u8]) -> Vec<u8> {
    assert_eq!(&jpeg[2..4], [0xFF, 0xE0], "the encoder starts with JFIF");
    let after_app0 = 4 + usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
    [&jpeg[..after_app0], app1, &jpeg[after_app0..]].concat()
}

/// The markers of a JPEG's segments before its first scan.
fn markers(jpeg: &[u8]) -> Vec<u8> {
    let mut at = 2;
    let mut found = Vec::new();
    while jpeg[at + 1] != 0xDA {
        found.push(jpeg[at + 1]);
        at += 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
    }
    found
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A PNG of a few dozen bytes whose header declares `side`×`side` pixels (a decompression bomb's
/// header: 30000² RGB would be 2.7 GB decoded).
fn png_declaring(side: u32) -> Vec<u8> {
    let mut bytes = png(1, 1);
    bytes[16..20].copy_from_slice(&side.to_be_bytes());
    bytes[20..24].copy_from_slice(&side.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

struct Account {
    pk: String,
    token: String,
}

async fn account(api: &TestApi) -> Account {
    let body = api.register(&unique("av")).await;
    Account { pk: body["pk"].as_str().unwrap().to_owned(), token: body["token"].as_str().unwrap().to_owned() }
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let raw = resp.bytes().await.unwrap().to_vec();
    let body = if raw.is_empty() { Value::Null } else { serde_json::from_slice(&raw).expect("JSON body") };
    Answer { status, headers, body, raw }
}

/// PUT /users/icon/{pk}/ with a raw body of `content_type`, the token in `Authorization`.
async fn upload(api: &TestApi, pk: &str, token: &str, content_type: &str, bytes: Vec<u8>) -> Answer {
    let resp = api
        .http
        .put(format!("{}/users/icon/{pk}/", api.base))
        .header("content-type", content_type)
        .header("authorization", format!("Token {token}"))
        .body(bytes)
        .send()
        .await
        .unwrap();
    answer(resp).await
}

/// The same as a multipart form with `parts` (name, file content type or none for text, bytes).
async fn upload_form(api: &TestApi, pk: &str, parts: &[(&str, Option<&str>, Vec<u8>)]) -> Answer {
    let boundary = "----AvatarTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, content_type, bytes) in parts {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes());
        if let Some(ct) = content_type {
            body.extend(format!("; filename=\"me.bin\"\r\nContent-Type: {ct}").as_bytes());
        }
        body.extend(b"\r\n\r\n");
        body.extend(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    let resp = api
        .http
        .put(format!("{}/users/icon/{pk}/", api.base))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    answer(resp).await
}

async fn profile(api: &TestApi, who: &Account) -> Value {
    let resp = api
        .http
        .get(format!("{}/users/{}/", api.base, who.pk))
        .header("authorization", format!("Token {}", who.token))
        .send()
        .await
        .unwrap();
    let a = answer(resp).await;
    a.assert_success(200);
    a.body
}

/// Every key in the test's bucket.
async fn objects(api: &TestApi) -> BTreeSet<String> {
    let out = api.ctx.avatars.client().list_objects_v2().bucket(api.ctx.avatars.bucket()).send().await.unwrap();
    out.contents().iter().filter_map(|o| o.key()).map(str::to_owned).collect()
}

/// The keys `img` and `img_thumb` name.
fn named(api: &TestApi, body: &Value) -> BTreeSet<String> {
    let base = api.ctx.avatars.url("");
    ["img", "img_thumb"]
        .iter()
        .map(|f| body[f].as_str().unwrap().strip_prefix(&base).unwrap_or_else(|| panic!("{f} in {body}")).to_owned())
        .collect()
}

/// The object behind a URL, fetched as a browser on this machine would (moto serves it).
async fn fetch(url: &str) -> Vec<u8> {
    let resp = reqwest::get(url).await.unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    resp.bytes().await.unwrap().to_vec()
}

fn is(pixel: &Rgb<u8>, colour: [u8; 3]) -> bool {
    pixel.0.iter().zip(colour).all(|(a, b)| a.abs_diff(b) < 40)
}

#[tokio::test]
async fn a_jpeg_with_gps_and_orientation_6_is_stored_turned_cropped_and_without_exif() {
    let api = TestApi::start().await;
    let alice = account(&api).await;
    // 600 wide, 400 high, red over blue; shown turned a quarter clockwise: blue left, red right.
    let upload_bytes = with_segment(&jpeg(600, 400), &exif_app1());
    assert!(markers(&upload_bytes).contains(&0xE1), "the upload carries its EXIF");
    let a = upload(&api, &alice.pk, &alice.token, "image/jpeg", upload_bytes).await;
    a.assert_success(200);
    api_tests::assert_user_shape(&a.body);
    let img = a.str("img");
    assert!(img.contains("/avatars/") && img.ends_with(".jpg"), "{img}");

    let stored = fetch(img).await;
    assert_eq!(&stored[..3], [0xFF, 0xD8, 0xFF]);
    assert_eq!(markers(&stored).iter().filter(|m| (0xE1..=0xEF).contains(*m)).count(), 0, "no APP1..15 segment");
    assert!(!stored.windows(4).any(|w| w == b"Exif"), "no EXIF anywhere");
    let avatar = image::load_from_memory(&stored).unwrap().into_rgb8();
    assert_eq!(avatar.dimensions(), (512, 512));
    assert!(is(avatar.get_pixel(100, 256), BLUE), "left is blue: {:?}", avatar.get_pixel(100, 256));
    assert!(is(avatar.get_pixel(412, 256), RED), "right is red: {:?}", avatar.get_pixel(412, 256));

    let thumb = image::load_from_memory(&fetch(a.str("img_thumb")).await).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (128, 128));
    // Served forever from caches: the key never gets other bytes.
    let key = img.strip_prefix(&api.ctx.avatars.url("")).unwrap();
    let head = api.ctx.avatars.client().head_object().bucket(api.ctx.avatars.bucket()).key(key).send().await.unwrap();
    assert_eq!(head.cache_control(), Some("public, max-age=31536000, immutable"));
    assert_eq!(head.content_type(), Some("image/jpeg"));
    assert_eq!(objects(&api).await, named(&api, &a.body));
    assert_eq!(profile(&api, &alice).await["img"], img, "the profile shows it");
}

#[tokio::test]
async fn the_type_comes_from_the_bytes_a_png_declared_as_jpeg_or_sent_in_a_form_is_taken() {
    let api = TestApi::start().await;
    let alice = account(&api).await;
    upload(&api, &alice.pk, &alice.token, "image/jpeg", png(300, 300)).await.assert_success(200);
    // A transparent WebP in a form with the token as a field: transparency becomes white.
    let clear = RgbaImage::from_fn(200, 100, |x, _| Rgba(if x < 100 { [0, 0, 0, 0] } else { [20, 20, 220, 255] }));
    let webp = encode(&clear.into(), ImageFormat::WebP);
    let a = upload_form(
        &api,
        &alice.pk,
        &[("token", None, alice.token.clone().into_bytes()), ("icon", Some("image/webp"), webp)],
    )
    .await;
    a.assert_success(200);
    let avatar = image::load_from_memory(&fetch(a.str("img")).await).unwrap().into_rgb8();
    assert!(is(avatar.get_pixel(100, 256), [255, 255, 255]), "{:?}", avatar.get_pixel(100, 256));
    assert!(is(avatar.get_pixel(412, 256), BLUE), "{:?}", avatar.get_pixel(412, 256));
    assert_eq!(objects(&api).await, named(&api, &a.body), "the first upload's objects are gone");
}

#[tokio::test]
async fn html_svg_polyglots_and_truncated_files_are_415_and_change_nothing() {
    let api = TestApi::start().await;
    let alice = account(&api).await;
    let full_jpeg = jpeg(300, 300);
    let full_png = png(300, 300);
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("html", "image/jpeg", b"<!doctype html><html><script>alert(1)</script></html>".to_vec()),
        ("svg", "image/png", br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec()),
        ("svg declared", "image/svg+xml", br#"<svg xmlns="http://www.w3.org/2000/svg"/>"#.to_vec()),
        // The classic GIF/JavaScript polyglot, and HTML with a PNG after it.
        ("gif polyglot", "image/jpeg", b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=alert(1);//".to_vec()),
        ("html then png", "image/png", [&b"<html><body>"[..], &full_png].concat()),
        ("png signature then html", "image/png", [&full_png[..8], b"<html><script>alert(1)</script>"].concat()),
        ("truncated jpeg", "image/jpeg", full_jpeg[..full_jpeg.len() * 2 / 3].to_vec()),
        ("truncated png", "image/png", full_png[..full_png.len() * 2 / 3].to_vec()),
        ("empty", "image/webp", Vec::new()),
    ];
    for (case, content_type, bytes) in cases {
        let a = upload(&api, &alice.pk, &alice.token, content_type, bytes).await;
        a.assert_fail(415);
        assert_eq!(a.body["error"], "unsupported_image", "{case}: {}", a.body);
    }
    assert_eq!(profile(&api, &alice).await["img"], "");
    assert!(objects(&api).await.is_empty());
}

#[tokio::test]
async fn more_than_4_mib_or_a_header_declaring_30000_px_is_413() {
    let api = TestApi::start().await;
    let alice = account(&api).await;
    let mut big = png(64, 64);
    big.resize(picture::MAX_BYTES + 1, 0);
    let a = upload(&api, &alice.pk, &alice.token, "image/png", big.clone()).await;
    a.assert_fail(413);
    assert_eq!(a.body["error"], "image_too_large");
    let a = upload_form(&api, &alice.pk, &[("icon", Some("image/png"), big)]).await;
    a.assert_fail(413);
    assert_eq!(a.body["error"], "image_too_large");

    let bomb = png_declaring(30_000);
    assert!(bomb.len() < 100, "{} bytes", bomb.len());
    let a = upload(&api, &alice.pk, &alice.token, "image/png", bomb.clone()).await;
    a.assert_fail(413);
    assert_eq!(a.body["error"], "image_too_large", "{}", a.body);
    // Refused from the header: the decoder never got to the (absent) pixels.
    assert!(matches!(picture::inspect(&bomb), Err(shared::ApiError::ImageTooLarge(_))));
    let wide = png_declaring(4097);
    assert!(matches!(picture::inspect(&wide), Err(shared::ApiError::ImageTooLarge(_))));
    assert!(objects(&api).await.is_empty());
}

#[tokio::test]
async fn only_the_owner_uploads_and_a_form_needs_its_icon() {
    let api = TestApi::start().await;
    let alice = account(&api).await;
    let bob = account(&api).await;
    upload(&api, &alice.pk, &bob.token, "image/png", png(64, 64)).await.assert_fail(403);
    upload(&api, &alice.pk, &"0".repeat(32), "image/png", png(64, 64)).await.assert_fail(401);
    let a = upload_form(&api, &alice.pk, &[("icon", Some("image/png"), png(64, 64))]).await;
    a.assert_fail(401);
    let a = upload_form(&api, &alice.pk, &[("token", None, alice.token.clone().into_bytes())]).await;
    a.assert_fail(400);
    assert_eq!((a.body["error"].as_str(), a.body["field"].as_str()), (Some("missing_icon"), Some("icon")));
    assert_eq!(profile(&api, &alice).await["img"], "");
    assert!(objects(&api).await.is_empty());
}

#[tokio::test]
async fn the_url_form_is_unchanged_and_removes_an_uploaded_avatar() {
    let api = TestApi::start().await;
    let alice = account(&api).await;
    upload(&api, &alice.pk, &alice.token, "image/png", png(64, 64)).await.assert_success(200);
    assert_eq!(objects(&api).await.len(), 2);
    let url = "https://cdn.example.com/alice.png";
    let a = api.put(&format!("/users/icon/{}/", alice.pk), json!({"token": alice.token, "icon": url})).await;
    a.assert_success(200);
    assert_eq!((a.str("img"), a.str("img_thumb")), (url, url), "a URL is its own thumbnail");
    assert!(objects(&api).await.is_empty(), "the uploaded avatar it replaced is deleted");
    let a = api.put(&format!("/users/icon/{}/", alice.pk), json!({"token": alice.token, "icon": "ftp://x"})).await;
    a.assert_fail(400);
}

#[tokio::test]
async fn deleting_the_account_deletes_its_pictures() {
    let api = TestApi::start().await;
    let alice = account(&api).await;
    upload(&api, &alice.pk, &alice.token, "image/jpeg", jpeg(640, 480)).await.assert_success(200);
    assert_eq!(objects(&api).await.len(), 2);
    let resp = api
        .http
        .delete(format!("{}/users/{}/", api.base, alice.pk))
        .header("content-type", "application/json")
        .body(json!({"token": alice.token, "password": "password123"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert!(objects(&api).await.is_empty(), "PIPL: the pictures go with the account");
}

#[tokio::test]
async fn parallel_uploads_end_with_one_avatar_and_no_object_left_behind() {
    let api = TestApi::start().await;
    let alice = account(&api).await;
    upload(&api, &alice.pk, &alice.token, "image/png", png(50, 50)).await.assert_success(200);
    let uploads = (0..6u32).map(|i| upload(&api, &alice.pk, &alice.token, "image/png", png(60 + i, 70)));
    let answers = futures::future::join_all(uploads).await;
    for a in &answers {
        assert!(a.status == 200 || a.status == 409, "{}: {}", a.status, a.body);
    }
    let now = profile(&api, &alice).await;
    assert_eq!(objects(&api).await, named(&api, &now), "exactly the objects img and img_thumb name");
    let winners: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    assert!(!winners.is_empty());
    assert!(winners.iter().any(|w| w.body["img"] == now["img"]), "img is one upload's");
}

#[tokio::test]
async fn with_s3_unreachable_an_upload_is_503_in_time_and_img_unchanged() {
    let prefix = unique("t");
    let config = || Config { tables: Tables::local(&prefix), avatars: local_avatars(&prefix), ..Config::default() };
    let api = TestApi::serve(Context::new(config(), &sdk_config().await)).await;
    let alice = account(&api).await;
    let first = upload(&api, &alice.pk, &alice.token, "image/png", png(64, 64)).await;
    first.assert_success(200);

    // The same tables, S3 behind an address that accepts connections and never answers.
    let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sdk = sdk_config().await;
    let s3 = shared::deadlines::s3(&sdk, true)
        .to_builder()
        .endpoint_url(format!("http://{}", blackhole.local_addr().unwrap()))
        .build();
    let mut ctx = Context::new(config(), &sdk);
    ctx.avatars = Objects::with_client(aws_sdk_s3::Client::from_conf(s3), &config().avatars);
    let cut_off = TestApi::serve_without_setup(ctx).await;
    let a = upload(&cut_off, &alice.pk, &alice.token, "image/png", png(80, 80)).await;
    a.assert_fail(503);
    assert_eq!(a.body["error"], "service_unavailable");
    assert_eq!(a.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
    assert_eq!(profile(&api, &alice).await["img"], first.body["img"], "img unchanged");
    drop(blackhole);
}
