//! `make bench`: the figures behind the project's speed claims, printed, never asserted.
//! - argon2id (m=19 MiB, t=2, p=1) hash and verify time on this machine;
//! - end-to-end latency of the hot endpoints through the local server, DynamoDB Local under it
//!   (DynamoDB Local is a Java emulator: read the numbers relative to each other, not as AWS's);
//! - avatar rendering (decode, orient, crop, two JPEGs) of the largest pictures API.md allows: a
//!   12 MP JPEG and a 4096² PNG, time and the peak RSS it adds (VmHWM, reset before each run).

use std::time::{Duration, Instant};

use api_tests::{unique, TestApi};
use serde_json::json;

fn summary(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<28} n={:<4} min {:>8.3} ms   p50 {:>8.3} ms   p95 {:>8.3} ms   max {:>8.3} ms",
        samples.len(),
        ms(samples[0]),
        ms(p(0.5)),
        ms(p(0.95)),
        ms(*samples.last().unwrap())
    );
}

async fn time<F, Fut>(n: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        f(i).await;
        out.push(start.elapsed());
    }
    out
}

/// Resets the peak RSS (`VmHWM`) to the current RSS (Linux: `5` into clear_refs).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// A photo-like picture: smooth gradients with some texture, so that JPEG and PNG sizes are
/// those of a picture, not of a flat colour.
/// A smooth picture (gradients only): a 4096² PNG of a photo would exceed API.md's 4 MiB, so the
/// largest PNG that can arrive is a graphic like this one.
fn smooth(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, ((x + y) / 32 % 256) as u8])
    })
}

fn photo(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let t = ((x / 7) ^ (y / 5)) % 23;
        image::Rgb([(x * 255 / w) as u8 ^ t as u8, (y * 255 / h) as u8, ((x + y) % 256) as u8 / 2 + t as u8])
    })
}

fn avatar_figures() {
    use std::io::Cursor;
    let encode = |img: image::RgbImage, format: image::ImageFormat| {
        let mut out = Cursor::new(Vec::new());
        image::DynamicImage::from(img).write_to(&mut out, format).unwrap();
        out.into_inner()
    };
    let cases = [
        ("avatar from 12 MP JPEG", encode(photo(4000, 3000), image::ImageFormat::Jpeg)),
        ("avatar from 4096² PNG", encode(smooth(4096, 4096), image::ImageFormat::Png)),
    ];
    for (name, bytes) in cases {
        let mut times = Vec::new();
        let mut peak_added = 0;
        for _ in 0..5 {
            reset_peak_rss();
            let before = status_kib("VmRSS:");
            let start = Instant::now();
            let rendered = shared::avatars::picture::render(&bytes).unwrap();
            times.push(start.elapsed());
            peak_added = peak_added.max(status_kib("VmHWM:").saturating_sub(before));
            assert!(!rendered.avatar.is_empty());
        }
        summary(name, times);
        println!(
            "{:<28} input {:.2} MiB, peak RSS added {:.0} MiB (decoder cap {} MiB)",
            "",
            bytes.len() as f64 / 1048576.0,
            peak_added as f64 / 1024.0,
            shared::avatars::picture::MAX_DECODER_ALLOC / 1048576
        );
    }
}

#[tokio::main]
async fn main() {
    println!("profile: {}", if cfg!(debug_assertions) { "debug" } else { "release" });
    avatar_figures();
    let hashes: Vec<Duration> = (0..20)
        .map(|_| {
            let start = Instant::now();
            shared::auth::passwords::hash_blocking("correct horse battery").unwrap();
            start.elapsed()
        })
        .collect();
    summary("argon2id hash", hashes);
    // What each hash cost before the working area was pooled: the crate's own hasher, which
    // allocates (and page-faults) a fresh 19 MiB every time, on the blocking pool as the
    // handlers ran it (a new pool thread gets a new glibc arena).
    let salt = argon2::password_hash::SaltString::encode_b64(b"sixteen byte sal").unwrap();
    let mut fresh = Vec::new();
    for _ in 0..20 {
        let salt = salt.clone();
        let start = Instant::now();
        tokio::task::spawn_blocking(move || {
            use argon2::password_hash::PasswordHasher;
            let params = argon2::Params::new(19 * 1024, 2, 1, None).unwrap();
            let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            a.hash_password(b"correct horse battery", &salt).unwrap().to_string()
        })
        .await
        .unwrap();
        fresh.push(start.elapsed());
    }
    summary("argon2id hash, fresh area", fresh);
    let mut pooled = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        shared::auth::passwords::hash("correct horse battery".into()).await.unwrap();
        pooled.push(start.elapsed());
    }
    summary("argon2id hash, pooled area", pooled);
    let phc = shared::auth::passwords::hash_blocking("correct horse battery").unwrap();
    let verifies: Vec<Duration> = (0..20)
        .map(|_| {
            let start = Instant::now();
            assert!(shared::auth::passwords::verify_blocking("correct horse battery", &phc));
            start.elapsed()
        })
        .collect();
    summary("argon2id verify", verifies);

    let api = TestApi::start().await;
    let names: Vec<String> = (0..30).map(|_| unique("bench")).collect();
    let mut tokens = Vec::new();
    let mut pks = Vec::new();
    let register = time(names.len(), |i| {
        let body = json!({"username": names[i], "password": "password123", "nickname": "b"});
        let api = &api;
        async move {
            let a = api.post("/users/", body).await;
            a.assert_success(200);
        }
    })
    .await;
    summary("POST /users/ (register)", register);
    let login = time(names.len(), |i| {
        let body = json!({"username": names[i], "password": "password123"});
        let api = &api;
        async move {
            api.post("/login/", body).await.assert_success(200);
        }
    })
    .await;
    summary("POST /login/", login);
    for name in &names {
        let a = api.post("/login/", json!({"username": name, "password": "password123"})).await;
        tokens.push(a.str("token").to_owned());
        pks.push(a.str("pk").to_owned());
    }
    let info = time(names.len(), |i| {
        let path = format!("/users/{}/", pks[i]);
        let body = json!({"token": tokens[i], "city": format!("c{i}")});
        let api = &api;
        async move {
            api.put(&path, body).await.assert_success(200);
        }
    })
    .await;
    summary("PUT /users/{pk}/", info);
    for i in 0..60 {
        let a =
            api.post("/rooms/", json!({"room_alias": unique("br"), "active": i % 2 == 0, "token": tokens[0]})).await;
        a.assert_success(201);
    }
    let list = time(50, |_| {
        let api = &api;
        async move {
            api.get("/rooms/?page=1&pageSize=30").await.assert_success(200);
        }
    })
    .await;
    summary("GET /rooms/ (page 1 of 30)", list);
    let tokens_gen: Vec<Duration> = (0..1000)
        .map(|_| {
            let start = Instant::now();
            shared::auth::tokens::generate().unwrap();
            start.elapsed()
        })
        .collect();
    summary("token generate + sha256", tokens_gen);
}
