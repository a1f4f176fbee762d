//! Avatar objects in S3 (docs/avatars.md): the only module that talks to S3.
//!
//! Invariant: every object under `avatars/<pk>/` is named in the account's `avatar_objects`
//! (or its tombstone's). Names are written before the objects, and removed only after the
//! objects are deleted; a function that dies anywhere in between leaves a name of an object
//! that may or may not exist, never an object nobody names. An upload:
//! 1. renders the picture (no store call yet), then reserves its two keys in the account over
//!    the version read (`Store::reserve_avatar_objects`, a new version);
//! 2. writes the two objects (keys unique to this reservation: never overwritten, never shared);
//! 3. saves `img`/`img_thumb` over the reserved version: a parallel upload or profile change
//!    that reserved or saved in between wins, and this one deletes its own two objects (409);
//! 4. the winner deletes what the account names beyond its new avatar: the previous avatar, and
//!    names older than [`STRAY_AFTER`] (uploads that died between 1 and 3). Younger names belong
//!    to uploads that may still be running; they delete their own objects when they lose.

#[cfg(feature = "avatars")]
pub mod picture;
#[cfg(feature = "avatars")]
pub mod upload;

use aws_sdk_s3::primitives::ByteStream;
use futures_util::future::try_join_all;

use crate::config::AvatarConfig;
use crate::domain::User;
use crate::store::StoreError;
use crate::{clock, ApiError, Context};

/// Every object's key starts with this: the functions' IAM policies allow nothing else.
pub const PREFIX: &str = "avatars/";
/// A key never gets other bytes: caches may keep an object forever.
pub const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// A name reserved this long ago belongs to an upload that is over (the function's 10 s timeout
/// ended it at the latest): if the account does not show it, its object is a stray.
pub const STRAY_AFTER: u64 = 60;

/// The avatar bucket and the address its objects are read from.
pub struct Objects {
    client: aws_sdk_s3::Client,
    bucket: String,
    public_base: String,
}

impl Objects {
    pub fn new(sdk: &aws_config::SdkConfig, config: &AvatarConfig) -> Self {
        let client = aws_sdk_s3::Client::from_conf(crate::deadlines::s3(sdk, config.path_style));
        Self::with_client(client, config)
    }

    /// On a given client (the fault tests point one at a dead endpoint).
    pub fn with_client(client: aws_sdk_s3::Client, config: &AvatarConfig) -> Self {
        Objects { client, bucket: config.bucket.clone(), public_base: config.public_base.clone() }
    }

    pub fn client(&self) -> &aws_sdk_s3::Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// What `img` says for `key`.
    pub fn url(&self, key: &str) -> String {
        format!("{}/{key}", self.public_base)
    }

    /// Writes one re-encoded JPEG.
    pub async fn put(&self, key: &str, jpeg: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("image/jpeg")
            .cache_control(CACHE_CONTROL)
            .body(ByteStream::from(jpeg))
            .send()
            .await
            .map_err(crate::store::unavailable)?;
        Ok(())
    }

    /// Deletes `keys`, in parallel; a missing object is no error (S3's DeleteObject succeeds).
    pub async fn delete(&self, keys: &[String]) -> Result<(), StoreError> {
        let deletes = keys.iter().map(|key| async move {
            self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(crate::store::unavailable)
        });
        try_join_all(deletes).await?;
        Ok(())
    }
}

/// The two objects of one upload: `avatars/<pk>/<reserved_at>-<version>-<digest>-<side>.jpg`.
/// `version` (the account version the reservation creates) makes them unique to one upload,
/// `digest` (of the re-encoded bytes) makes them unguessable, `reserved_at` tells strays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvatarKeys {
    pub avatar: String,
    pub thumb: String,
}

impl AvatarKeys {
    pub fn new(pk: u64, version: u64, reserved_at: u64, digest: &str) -> Self {
        let stem = format!("{PREFIX}{pk}/{reserved_at}-{version}-{digest}");
        AvatarKeys { avatar: format!("{stem}-512.jpg"), thumb: format!("{stem}-128.jpg") }
    }

    pub fn both(&self) -> Vec<String> {
        vec![self.avatar.clone(), self.thumb.clone()]
    }
}

/// When the upload that named `key` reserved it; `None` for a key this module did not make.
fn reserved_at(key: &str) -> Option<u64> {
    key.rsplit('/').next()?.split('-').next()?.parse().ok()
}

/// The names of `user` that its avatar no longer uses and that no running upload can own:
/// those `previous` (the account before this change) showed, and those reserved long ago.
fn stale(user: &User, previous: &User, now: u64) -> Vec<String> {
    let shows = |u: &User, key: &str| {
        let url_ends = |url: &str| url.strip_suffix(key).is_some_and(|base| base.ends_with('/'));
        url_ends(&u.img) || url_ends(&u.img_thumb)
    };
    user.avatar_objects
        .iter()
        .filter(|key| !shows(user, key))
        .filter(|key| shows(previous, key) || reserved_at(key).is_none_or(|at| at + STRAY_AFTER <= now))
        .cloned()
        .collect()
}

/// Step 4 (see the module) after `saved` replaced `previous`: best effort, the request has
/// succeeded; whatever fails here stays named and the next clean-up or the deletion retries it.
pub async fn clean_up(ctx: &Context, saved: &User, previous: &User) {
    let stale = stale(saved, previous, clock::now_unix());
    if stale.is_empty() {
        return;
    }
    if let Err(err) = erase(ctx, saved.pk, &stale).await {
        tracing::warn!(error = %err, user_pk = saved.pk, objects = stale.len(), "old avatar objects kept for later");
    }
}

/// Deletes the objects, then their names (an account's, or its tombstone's).
pub async fn erase(ctx: &Context, pk: u64, keys: &[String]) -> Result<(), ApiError> {
    ctx.avatars.delete(keys).await?;
    ctx.store.forget_avatar_objects(pk, keys).await?;
    Ok(())
}

/// Steps 1-4 of the module for a rendered upload by `user` (as authenticated).
#[cfg(feature = "avatars")]
pub async fn replace(ctx: &Context, user: &User, rendered: picture::Rendered) -> Result<User, ApiError> {
    let keys = AvatarKeys::new(user.pk, user.version + 1, clock::now_unix(), &rendered.digest);
    let reserved = ctx.store.reserve_avatar_objects(user, &keys.both()).await?;
    futures_util::future::try_join(
        ctx.avatars.put(&keys.avatar, rendered.avatar),
        ctx.avatars.put(&keys.thumb, rendered.thumb),
    )
    .await?;
    let mut next = reserved.clone();
    next.img = ctx.avatars.url(&keys.avatar);
    next.img_thumb = ctx.avatars.url(&keys.thumb);
    match ctx.store.save_user(&next, &user.username).await {
        Ok(saved) => {
            clean_up(ctx, &saved, user).await;
            Ok(saved)
        }
        // Someone else changed the account since the reservation: these keys are this upload's
        // alone, so it removes them itself, and the client may retry.
        Err(StoreError::Contended) => {
            erase(ctx, user.pk, &keys.both()).await?;
            Err(ApiError::Contended)
        }
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(img: &AvatarKeys, objects: &[&AvatarKeys]) -> User {
        let mut u = User::new(7, "alice".into(), "0", 1007, "2026-01-01T00:00:00Z".into());
        u.img = format!("https://cdn.example/{}", img.avatar);
        u.img_thumb = format!("https://cdn.example/{}", img.thumb);
        u.avatar_objects = objects.iter().flat_map(|k| k.both()).collect();
        u
    }

    #[test]
    fn keys_are_unique_per_reservation_and_tell_their_age() {
        let a = AvatarKeys::new(7, 3, 1_800_000_000, "00ff");
        assert_eq!(a.avatar, "avatars/7/1800000000-3-00ff-512.jpg");
        assert_eq!(a.thumb, "avatars/7/1800000000-3-00ff-128.jpg");
        assert_ne!(AvatarKeys::new(7, 4, 1_800_000_000, "00ff"), a, "same picture, same second, other upload");
        assert_eq!(reserved_at(&a.thumb), Some(1_800_000_000));
        assert_eq!(reserved_at("avatars/7/not-ours.jpg"), None);
    }

    #[test]
    fn the_previous_avatar_and_old_strays_go_a_running_upload_s_names_stay() {
        let now = 1_800_000_100;
        let previous = AvatarKeys::new(7, 2, now - 5, "aa");
        let current = AvatarKeys::new(7, 5, now - 1, "bb");
        let dead = AvatarKeys::new(7, 1, now - STRAY_AFTER, "cc");
        let running = AvatarKeys::new(7, 4, now - 2, "dd");
        let saved = user(&current, &[&previous, &current, &dead, &running]);
        let before = user(&previous, &[&previous, &dead, &running]);
        let mut gone = stale(&saved, &before, now);
        gone.sort();
        let mut want = [previous.both(), dead.both()].concat();
        want.sort();
        assert_eq!(gone, want);
    }
}
