//! An uploaded picture becomes the server's own two JPEGs (docs/avatars.md has the choices):
//! the type read from the bytes, the limits of API.md checked from the header before any pixel
//! buffer exists, decoder memory capped, EXIF orientation applied, centre-cropped, re-encoded.
//! Nothing of the input survives but pixels: no EXIF (GPS), XMP, ICC or trailing bytes.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::imageops;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage};
use sha2::{Digest, Sha256};

use crate::ApiError;

/// API.md: more is 413 `image_too_large`.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_SIDE: u32 = 4096;
/// 16 MP as 2^24 pixels: a 4096×4096 square is allowed, a 4096×4097 one is not.
pub const MAX_PIXELS: u64 = 1 << 24;
/// What a decoder may allocate at once: the largest allowed image at 16-bit RGBA, 8 bytes a
/// pixel (a PNG can be), plus room for the decoder's own tables.
pub const MAX_DECODER_ALLOC: u64 = MAX_PIXELS * 8 + 16 * 1024 * 1024;
pub const AVATAR_SIDE: u32 = 512;
pub const THUMB_SIDE: u32 = 128;
/// JPEG quality of both outputs.
pub const QUALITY: u8 = 85;

/// The two JPEGs of one upload and a digest of their bytes (the keys' content part).
pub struct Rendered {
    pub avatar: Vec<u8>,
    pub thumb: Vec<u8>,
    pub digest: String,
}

/// The cheap checks, before the caller is even authenticated: size, type by content, and the
/// dimensions the header declares. No pixel is decoded.
pub fn inspect(bytes: &[u8]) -> Result<(), ApiError> {
    decoder(bytes).map(drop)
}

/// [`render`] on the blocking pool: decoding a 16 MP picture takes a CPU for a while, and the
/// request deadline must still be able to answer meanwhile.
pub async fn render_blocking(bytes: Vec<u8>) -> Result<Rendered, ApiError> {
    tokio::task::spawn_blocking(move || render(&bytes))
        .await
        .map_err(|e| ApiError::Unavailable(format!("image task: {e}")))?
}

pub fn render(bytes: &[u8]) -> Result<Rendered, ApiError> {
    let mut decoder = decoder(bytes)?;
    // An unreadable EXIF block is no reason to refuse the picture: it is dropped anyway.
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut picture = DynamicImage::from_decoder(decoder).map_err(refusal)?;
    picture.apply_orientation(orientation);
    let rgb = flatten(picture);
    let (w, h) = rgb.dimensions();
    let side = w.min(h);
    // A view of the centred square, not a copy of it (up to 48 MB).
    let square = imageops::crop_imm(&rgb, (w - side) / 2, (h - side) / 2, side, side);
    let avatar = imageops::thumbnail(&*square, AVATAR_SIDE, AVATAR_SIDE);
    let thumb = imageops::thumbnail(&avatar, THUMB_SIDE, THUMB_SIDE);
    let (avatar, thumb) = (jpeg(&avatar)?, jpeg(&thumb)?);
    let mut hash = Sha256::new();
    hash.update(&avatar);
    hash.update(&thumb);
    let digest = hex::encode(&hash.finalize()[..10]);
    Ok(Rendered { avatar, thumb, digest })
}

fn decoder(bytes: &[u8]) -> Result<impl ImageDecoder + '_, ApiError> {
    if bytes.len() > MAX_BYTES {
        return Err(ApiError::ImageTooLarge(format!("{} bytes", bytes.len())));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ApiError::UnsupportedImage(format!("read: {e}")))?;
    let format = reader.format();
    match format {
        Some(ImageFormat::Jpeg) => check_jpeg_complete(bytes)?,
        Some(ImageFormat::Png | ImageFormat::WebP) => {}
        // Anything else, whatever `Content-Type` said: HTML, SVG, GIF, a polyglot of those.
        other => return Err(ApiError::UnsupportedImage(format!("type {other:?}"))),
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODER_ALLOC);
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(refusal)?;
    let (width, height) = decoder.dimensions();
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ApiError::ImageTooLarge(format!("{width}x{height} px")));
    }
    if width == 0 || height == 0 {
        return Err(ApiError::UnsupportedImage("empty image".into()));
    }
    Ok(decoder)
}

/// The decoder's limits are API.md's 413; anything else it refuses is not a picture we take.
fn refusal(err: ImageError) -> ApiError {
    match err {
        ImageError::Limits(e) => ApiError::ImageTooLarge(e.to_string()),
        other => ApiError::UnsupportedImage(other.to_string()),
    }
}

/// `image` runs its JPEG decoder (zune-jpeg) leniently, and that pads a cut-off scan with grey
/// instead of failing: a truncated upload would be stored half grey. A complete JPEG has an
/// end-of-image marker after its first scan: walk the segments (their lengths skip an EXIF
/// thumbnail's own markers) to the first start-of-scan, then look for the marker.
fn check_jpeg_complete(bytes: &[u8]) -> Result<(), ApiError> {
    let truncated = || ApiError::UnsupportedImage("truncated JPEG".into());
    let mut at = 2;
    loop {
        let marker = bytes.get(at..at + 2).ok_or_else(truncated)?;
        if marker[0] != 0xFF {
            return Err(ApiError::UnsupportedImage("JPEG segment without marker".into()));
        }
        // Fill bytes may pad the space between segments.
        if marker[1] == 0xFF {
            at += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([
            *bytes.get(at + 2).ok_or_else(truncated)?,
            *bytes.get(at + 3).ok_or_else(truncated)?,
        ]));
        if marker[1] == 0xDA {
            let scan = bytes.get(at + 2 + len..).ok_or_else(truncated)?;
            return match scan.windows(2).any(|w| w == [0xFF, 0xD9]) {
                true => Ok(()),
                false => Err(truncated()),
            };
        }
        at += 2 + len;
    }
}

/// RGB: JPEG has no alpha, so transparency becomes white (what an avatar shown on a light
/// background looked like).
fn flatten(picture: DynamicImage) -> RgbImage {
    if picture.color().has_alpha() {
        let rgba = picture.into_rgba8();
        RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
            let [r, g, b, a] = rgba.get_pixel(x, y).0;
            let over_white = |c: u8| ((u16::from(c) * u16::from(a) + 255 * (255 - u16::from(a))) / 255) as u8;
            image::Rgb([over_white(r), over_white(g), over_white(b)])
        })
    } else {
        picture.into_rgb8()
    }
}

fn jpeg(image: &RgbImage) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(64 * 1024);
    JpegEncoder::new_with_quality(&mut out, QUALITY)
        .encode_image(image)
        .map_err(|e| ApiError::Unavailable(format!("jpeg encode: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg_of(w: u32, h: u32) -> Vec<u8> {
        jpeg(&RgbImage::from_pixel(w, h, image::Rgb([10, 200, 30]))).unwrap()
    }

    #[test]
    fn a_jpeg_is_complete_only_with_its_end_marker_after_the_scan() {
        let full = jpeg_of(64, 48);
        check_jpeg_complete(&full).unwrap();
        // Fill bytes before a segment are allowed.
        let padded = [&full[..2], &[0xFF, 0xFF][..], &full[2..]].concat();
        check_jpeg_complete(&padded).unwrap();
        for cut in [full.len() - 2, full.len() / 2, 3] {
            assert!(matches!(check_jpeg_complete(&full[..cut]), Err(ApiError::UnsupportedImage(_))), "{cut}");
        }
    }

    #[test]
    fn the_output_is_two_squares_whatever_the_input_s_shape() {
        for (w, h) in [(900, 300), (300, 900), (40, 40)] {
            let out = render(&jpeg_of(w, h)).unwrap();
            let avatar = image::load_from_memory(&out.avatar).unwrap();
            let thumb = image::load_from_memory(&out.thumb).unwrap();
            assert_eq!((avatar.width(), avatar.height(), thumb.width(), thumb.height()), (512, 512, 128, 128));
            assert_eq!(out.digest.len(), 20);
        }
    }
}
