//! Making one rendition from an image file: decode within [`Bounds`], scale down to the
//! rendition's longest side (never up), encode as JPEG; and the "no picture" placeholder.
//!
//! Invariant: nothing here allocates more than the bounds allow for a decoded picture: a
//! file whose header declares a picture larger than [`Bounds::max_side`] or whose pixels
//! would take more than [`Bounds::max_bytes`] is refused before its pixels are read.

use image::{DynamicImage, ImageReader, Limits};
use std::io::{BufRead, Seek};

/// JPEG quality of renditions: small files, no visible blocks at thumbnail sizes.
const QUALITY: u8 = 82;

/// What a picture may take to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Longest side in pixels.
    pub max_side: u32,
    /// Memory the decoder may allocate, in bytes.
    pub max_bytes: u64,
}

impl Default for Bounds {
    /// 30 000 px a side, 768 MiB: a 100 MB TIFF scan (~5800 px square) decodes, a file that
    /// claims to be 100 000 px wide does not.
    fn default() -> Self {
        Bounds {
            max_side: 30_000,
            max_bytes: 768 * 1024 * 1024,
        }
    }
}

/// Why a file gave no rendition.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{what} is larger than thumbnails may decode ({reason})")]
    TooLarge { what: String, reason: String },
    #[error("{what} is not a picture ferry can read: {reason}")]
    Unreadable { what: String, reason: String },
}

fn limits(bounds: Bounds) -> Limits {
    let mut l = Limits::default();
    l.max_image_width = Some(bounds.max_side);
    l.max_image_height = Some(bounds.max_side);
    l.max_alloc = Some(bounds.max_bytes);
    l
}

/// Decodes a picture from a reader (a file or bytes); `what` names it in errors.
pub fn decode<R: BufRead + Seek>(
    reader: R,
    what: &str,
    bounds: Bounds,
) -> Result<DynamicImage, RenderError> {
    let unreadable = |e: &dyn std::fmt::Display| RenderError::Unreadable {
        what: what.to_string(),
        reason: e.to_string(),
    };
    let mut reader = ImageReader::new(reader)
        .with_guessed_format()
        .map_err(|e| unreadable(&e))?;
    if reader.format().is_none() {
        return Err(unreadable(&"its first bytes match no image format"));
    }
    reader.limits(limits(bounds));
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(l) => RenderError::TooLarge {
            what: what.to_string(),
            reason: l.to_string(),
        },
        e => unreadable(&e),
    })
}

/// Decodes the file at `path`.
pub fn decode_file(path: &std::path::Path, bounds: Bounds) -> Result<DynamicImage, RenderError> {
    let what = path.file_name().map_or_else(
        || "the file".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let file = std::fs::File::open(path).map_err(|e| RenderError::Unreadable {
        what: what.clone(),
        reason: e.to_string(),
    })?;
    decode(std::io::BufReader::new(file), &what, bounds)
}

/// Decodes a picture held in memory.
pub fn decode_bytes(bytes: &[u8], what: &str, bounds: Bounds) -> Result<DynamicImage, RenderError> {
    decode(std::io::Cursor::new(bytes), what, bounds)
}

/// The picture scaled so its longest side is at most `longest` (never enlarged), as JPEG.
pub fn rendition(img: &DynamicImage, longest: u32) -> Vec<u8> {
    let scaled = if img.width().max(img.height()) > longest {
        img.thumbnail(longest, longest)
    } else {
        img.clone()
    };
    jpeg(&scaled.to_rgb8())
}

fn jpeg(img: &image::RgbImage) -> Vec<u8> {
    use image::ImageEncoder;
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, QUALITY)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .expect("an RGB buffer of its own dimensions encodes");
    out
}

/// The "no picture" card: a grey JPEG, 4:3, `longest` px wide, saying so.
pub fn placeholder(longest: u32) -> Vec<u8> {
    let (w, h) = (longest.max(16), (longest * 3 / 4).max(12));
    jpeg(&crate::emulate::pictures::card("no picture", w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg_of(w: u32, h: u32) -> Vec<u8> {
        jpeg(&image::RgbImage::from_pixel(
            w,
            h,
            image::Rgb([10, 200, 30]),
        ))
    }

    #[test]
    fn renditions_are_scaled_down_to_the_longest_side_and_never_up() {
        let img = decode_bytes(&jpeg_of(1000, 500), "a.jpg", Bounds::default()).unwrap();
        let small = image::load_from_memory(&rendition(&img, 200)).unwrap();
        assert_eq!((small.width(), small.height()), (200, 100));
        let same = image::load_from_memory(&rendition(&img, 4000)).unwrap();
        assert_eq!((same.width(), same.height()), (1000, 500));
    }

    #[test]
    fn a_truncated_jpeg_and_junk_are_unreadable_not_a_panic() {
        let whole = jpeg_of(300, 200);
        let cut = &whole[..whole.len() / 3];
        match decode_bytes(cut, "cut.jpg", Bounds::default()) {
            Err(RenderError::Unreadable { what, .. }) => assert_eq!(what, "cut.jpg"),
            // zune-jpeg fills a cut-off scan with grey rather than failing; what matters is
            // that a picture of the declared size comes back and nothing panics.
            Ok(img) => assert_eq!((img.width(), img.height()), (300, 200)),
            Err(e) => panic!("{e}"),
        }
        let junk = decode_bytes(
            b"\xFF\xD8\xFF\xE0 not really",
            "junk.jpg",
            Bounds::default(),
        );
        assert!(
            matches!(junk, Err(RenderError::Unreadable { .. })),
            "{junk:?}"
        );
        let text = decode_bytes(b"%PDF-1.4 hello", "doc.pdf", Bounds::default());
        assert!(text.unwrap_err().to_string().contains("doc.pdf"));
    }

    #[test]
    fn a_huge_declared_size_is_refused_before_its_pixels_are_read() {
        // A JPEG whose frame header declares 60000 x 60000 pixels (10 GB decoded).
        let mut header = jpeg_of(16, 16);
        let sof = header.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        header[sof + 5..sof + 7].copy_from_slice(&60_000u16.to_be_bytes());
        header[sof + 7..sof + 9].copy_from_slice(&60_000u16.to_be_bytes());
        let err = decode_bytes(&header, "huge.jpg", Bounds::default()).unwrap_err();
        assert!(matches!(err, RenderError::TooLarge { .. }), "{err}");
        // And a real picture over a tight memory bound.
        let tight = Bounds {
            max_side: 30_000,
            max_bytes: 1000,
        };
        let err = decode_bytes(&jpeg_of(300, 200), "big.jpg", tight).unwrap_err();
        assert!(matches!(err, RenderError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn the_placeholder_is_a_picture() {
        let card = image::load_from_memory(&placeholder(200)).unwrap();
        assert_eq!((card.width(), card.height()), (200, 150));
    }
}
