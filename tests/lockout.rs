//! Login lockout per username (short durations configured so the test runs in seconds; long
//! enough that a slow argon2 on a loaded machine cannot outlast a lock before it is observed).

use std::time::Duration;

use api_tests::{unique, TestApi};
use serde_json::json;

async fn api_locking(base_secs: u64, max_secs: u64) -> TestApi {
    TestApi::with_config(|c| {
        c.lockout.threshold = 5;
        c.lockout.base = Duration::from_secs(base_secs);
        c.lockout.max = Duration::from_secs(max_secs);
    })
    .await
}

/// One lock of 5 s: the request after the fifth failure comes well within it.
async fn api() -> TestApi {
    api_locking(5, 5).await
}

#[tokio::test]
async fn the_sixth_attempt_is_refused_even_with_the_right_password_then_the_account_opens() {
    let api = api().await;
    let name = unique("lock");
    let other = unique("bystander");
    api.register(&name).await;
    api.register(&other).await;
    for _ in 0..5 {
        api.post("/login/", json!({"username": name, "password": "wrong-password"})).await.assert_fail(401);
    }
    let locked = api.post("/login/", json!({"username": name, "password": "password123"})).await;
    locked.assert_fail(429);
    assert_eq!(locked.body["error"], "too_many_attempts");
    let wait: u64 = locked.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=5).contains(&wait), "retry after {wait}");
    assert_eq!(locked.body["retry_after"], wait.to_string());
    // Other accounts are not affected.
    api.post("/login/", json!({"username": other, "password": "password123"})).await.assert_success(200);

    tokio::time::sleep(Duration::from_secs(wait + 1)).await;
    api.post("/login/", json!({"username": name, "password": "password123"})).await.assert_success(200);
    // Success resets the count: one more failure is a plain 401, not a lock.
    api.post("/login/", json!({"username": name, "password": "wrong-password"})).await.assert_fail(401);
    api.post("/login/", json!({"username": name, "password": "password123"})).await.assert_success(200);
}

#[tokio::test]
async fn lockout_doubles_then_stays_at_the_cap() {
    let api = api_locking(2, 8).await;
    let name = unique("cap");
    api.register(&name).await;
    let mut waits = Vec::new();
    for _ in 0..4 {
        api.post("/login/", json!({"username": name, "password": "wrong-password"})).await.assert_fail(401);
    }
    for _ in 0..4 {
        // Each round: one failure that (re)locks, then the lock answer.
        api.post("/login/", json!({"username": name, "password": "wrong-password"})).await.assert_fail(401);
        let locked = api.post("/login/", json!({"username": name, "password": "password123"})).await;
        locked.assert_fail(429);
        let wait: u64 = locked.headers["retry-after"].to_str().unwrap().parse().unwrap();
        waits.push(wait);
        tokio::time::sleep(Duration::from_secs(wait + 1)).await;
    }
    // Locks of 2, 4, 8 and 8 s (base 2 s doubling, cap 8 s); Retry-After is whole seconds and may
    // have ticked up to twice on a loaded machine since the lock was set. A constant lock, or one
    // past the cap, fails here.
    let expected = [2, 4, 8, 8];
    for (wait, lock) in waits.iter().zip(expected) {
        assert!((lock - 2..=lock).contains(wait) && *wait >= 1, "locks {expected:?}, Retry-After {waits:?}");
    }
    assert!(waits[2] > waits[0], "the lock must grow: {waits:?}");
}

#[tokio::test]
async fn wrong_old_passwords_count_toward_the_lockout() {
    let api = api().await;
    let name = unique("pwlock");
    let reg = api.register(&name).await;
    for _ in 0..5 {
        api.put(
            "/password/",
            json!({"username": name, "old_password": "bad-old-pw", "password": "password456", "token": reg["token"]}),
        )
        .await
        .assert_fail(401);
    }
    api.post("/login/", json!({"username": name, "password": "password123"})).await.assert_fail(429);
}
