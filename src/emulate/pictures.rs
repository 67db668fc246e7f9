//! Generated pictures for the emulators' seeded libraries, so the demo and the tests show
//! real images instead of random bytes behind a JPEG header.
//!
//! Invariant: a [`Picture`] (seed, title, size, format) always gives the same bytes, in this
//! process and the next, so a seeded library's checksums are stable. Each picture is a
//! gradient with a pattern, both chosen by the seed, and its title drawn in 8x8 bitmap glyphs
//! (`font8x8`) on a banner: a person can tell two assets apart at thumbnail size.
//! Pictures are made once per process and kept (keyed by everything that shapes them),
//! because tests start many emulators seeded the same way.

use bytes::Bytes;
use image::{ExtendedColorType, ImageEncoder, Rgb, RgbImage};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The file format of a generated picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PictureFormat {
    /// Baseline JPEG, quality 85: what a photo library holds.
    Jpeg,
    /// Uncompressed RGB TIFF: what an archive keeps as a master.
    Tiff,
}

/// How large the seeded pictures are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PictureSize {
    /// 320 x 240 (or 240 x 320): quick to make in unoptimised test builds (the codecs' generic
    /// code is compiled into this crate, unoptimised), for tests.
    #[default]
    Test,
    /// 2400 x 1600 (or 1600 x 2400): what a camera export looks like, for the demo.
    Realistic,
    /// 96 x 64: for seeded libraries of more than [`MANY_PICTURES`] (benchmarks, listing
    /// tests), where larger pictures would take minutes to draw and gigabytes to hold. See
    /// [`PictureSize::for_library`].
    Tiny,
}

impl PictureSize {
    /// (long side, short side) in pixels.
    pub fn sides(self) -> (u32, u32) {
        match self {
            PictureSize::Test => (320, 240),
            PictureSize::Realistic => (2400, 1600),
            PictureSize::Tiny => (96, 64),
        }
    }

    /// The size to draw a library of `count` pictures at: the chosen one, except that more
    /// than [`MANY_PICTURES`] are drawn `Tiny` (memory stays near what the old random bytes
    /// took).
    pub fn for_library(self, count: usize) -> PictureSize {
        if count > MANY_PICTURES {
            PictureSize::Tiny
        } else {
            self
        }
    }

    /// (width, height) for a landscape or portrait picture.
    pub fn dimensions(self, landscape: bool) -> (u32, u32) {
        let (long, short) = self.sides();
        if landscape {
            (long, short)
        } else {
            (short, long)
        }
    }
}

/// Above this many pictures a seeded library draws them [`PictureSize::Tiny`].
pub const MANY_PICTURES: usize = 250;

/// Everything that shapes one generated picture.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Picture {
    pub seed: u64,
    pub title: String,
    pub width: u32,
    pub height: u32,
    pub format: PictureFormat,
}

impl Picture {
    /// The encoded file, made on first use and kept for the life of the process.
    pub fn bytes(&self) -> Bytes {
        type Made = HashMap<Picture, Arc<OnceLock<Bytes>>>;
        static MADE: OnceLock<Mutex<Made>> = OnceLock::new();
        let slot = MADE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(self.clone())
            .or_default()
            .clone();
        // Made outside the map's lock; the slot makes a second caller wait for the first
        // rather than draw the same picture twice.
        slot.get_or_init(|| Bytes::from(encode(&render(self), self.format)))
            .clone()
    }
}

/// Makes many pictures on every core, in order.
pub fn draw_all(pictures: &[Picture]) -> Vec<Bytes> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        let workers: Vec<_> = pictures
            .chunks(pictures.len().div_ceil(threads).max(1))
            .map(|chunk| scope.spawn(move || chunk.iter().map(Picture::bytes).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("drawing a picture does not panic"))
            .collect()
    })
}

/// A seed from the first bytes of a slice (the emulators draw their old random bytes and
/// turn them into a seed, so the rest of the seeded library stays as it was).
pub fn seed_from(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    for (i, x) in bytes.iter().take(8).enumerate() {
        b[i] = *x;
    }
    u64::from_le_bytes(b)
}

/// Draws the picture: gradient, pattern, title banner. Drawn about 160 px wide and scaled up
/// (`DynamicImage::resize_exact` is compiled, optimised, in `image`; per-pixel work in this
/// crate is unoptimised in tests and would make seeding a library take minutes).
pub fn render(p: &Picture) -> RgbImage {
    let (w, h) = (p.width.max(1), p.height.max(1));
    let factor = (w / 160).max(1);
    let small = draw(p.seed, &p.title, w.div_ceil(factor), h.div_ceil(factor));
    image::DynamicImage::ImageRgb8(small)
        .resize_exact(w, h, image::imageops::FilterType::Triangle)
        .into_rgb8()
}

fn draw(s: u64, title: &str, w: u32, h: u32) -> RgbImage {
    let from = colour(s);
    let to = colour(s.rotate_left(23) ^ 0x9E37_79B9_7F4A_7C15);
    let pattern = s % 3;
    let cell = (w.min(h) / 8).max(4);
    let mut img = RgbImage::from_fn(w, h, |x, y| {
        let t = (x as f32 / w as f32 + y as f32 / h as f32) / 2.0;
        let mut px = [0u8; 3];
        for ((p, a), b) in px.iter_mut().zip(from).zip(to) {
            *p = (a as f32 * (1.0 - t) + b as f32 * t) as u8;
        }
        let shade = match pattern {
            0 => ((x / cell) + (y / cell)).is_multiple_of(2),
            1 => ((x + y) / (cell / 2).max(1)).is_multiple_of(3),
            _ => {
                let (dx, dy) = (x as i64 - w as i64 / 2, y as i64 - h as i64 / 2);
                (((dx * dx + dy * dy) as f64).sqrt() as u32 / cell).is_multiple_of(2)
            }
        };
        if shade {
            px = px.map(|v| (v as u16 * 4 / 5) as u8);
        }
        Rgb(px)
    });
    banner(&mut img, title);
    img
}

/// A flat grey card with `text` on its banner (the thumbnail cache's "no picture").
pub fn card(text: &str, w: u32, h: u32) -> RgbImage {
    let small = draw_card(text, w.div_ceil(4).max(1), h.div_ceil(4).max(1));
    image::DynamicImage::ImageRgb8(small)
        .resize_exact(w, h, image::imageops::FilterType::Triangle)
        .into_rgb8()
}

fn draw_card(text: &str, w: u32, h: u32) -> RgbImage {
    let mut img = RgbImage::from_pixel(w, h, Rgb([200, 200, 196]));
    banner(&mut img, text);
    img
}

fn colour(seed: u64) -> [u8; 3] {
    let b = seed.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
    [b[1] | 0x30, b[3] | 0x30, b[5] | 0x30]
}

/// A dark band across the lower third with the title in white, as large as lets a line of
/// 12 characters fit the width, wrapped onto up to three lines.
fn banner(img: &mut RgbImage, title: &str) {
    let (w, h) = img.dimensions();
    let chars: Vec<char> = title.chars().take(120).collect();
    let scale = (w / (chars.len().clamp(12, 20) as u32 * 8 + 4)).clamp(1, 16);
    let glyph = 8 * scale;
    let per_line = ((w.saturating_sub(4 * scale)) / glyph).max(1) as usize;
    let lines: Vec<&[char]> = chars.chunks(per_line).take(3).collect();
    let band = glyph * (lines.len() as u32 + 1);
    let top = h.saturating_sub(band) * 2 / 3;
    for y in top..(top + band).min(h) {
        for x in 0..w {
            let p = img.get_pixel_mut(x, y);
            p.0 = p.0.map(|v| v / 4);
        }
    }
    for (n, line) in lines.iter().enumerate() {
        let origin = (scale * 2, top + glyph / 2 + n as u32 * glyph);
        for (i, c) in line.iter().enumerate() {
            put_glyph(img, *c, (origin.0 + i as u32 * glyph, origin.1), scale);
        }
    }
}

/// Draws one character with its top left corner at `at`, each dot `scale` pixels square.
fn put_glyph(img: &mut RgbImage, c: char, at: (u32, u32), scale: u32) {
    let (w, h) = img.dimensions();
    for (row, bits) in glyph_rows(c).iter().enumerate() {
        for col in (0..8u32).filter(|col| bits & (1 << col) != 0) {
            let (x0, y0) = (at.0 + col * scale, at.1 + row as u32 * scale);
            for y in (y0..y0 + scale).filter(|y| *y < h) {
                for x in (x0..x0 + scale).filter(|x| *x < w) {
                    img.put_pixel(x, y, Rgb([250, 250, 245]));
                }
            }
        }
    }
}

/// The glyph of a character: ASCII and Latin-1, `?` for anything else.
fn glyph_rows(c: char) -> [u8; 8] {
    use font8x8::legacy::{BASIC_LEGACY, LATIN_LEGACY};
    let n = c as usize;
    match n {
        0x20..=0x7E => BASIC_LEGACY[n],
        0xA0..=0xFF => LATIN_LEGACY[n - 0xA0],
        _ => BASIC_LEGACY[b'?' as usize],
    }
}

/// Encodes an RGB picture. Encoding into memory cannot fail for a valid RGB buffer, so a
/// failure is a bug in this module.
pub fn encode(img: &RgbImage, format: PictureFormat) -> Vec<u8> {
    let mut out = Vec::new();
    let (w, h) = img.dimensions();
    let done = match format {
        PictureFormat::Jpeg => image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
            .write_image(img.as_raw(), w, h, ExtendedColorType::Rgb8),
        PictureFormat::Tiff => {
            let mut cursor = std::io::Cursor::new(&mut out);
            image::codecs::tiff::TiffEncoder::new(&mut cursor).write_image(
                img.as_raw(),
                w,
                h,
                ExtendedColorType::Rgb8,
            )
        }
    };
    done.expect("an RGB buffer of its own dimensions encodes");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pic(format: PictureFormat) -> Picture {
        Picture {
            seed: 42,
            title: "Regatta <1962> ../é".into(),
            width: 320,
            height: 200,
            format,
        }
    }

    #[test]
    fn the_same_picture_gives_the_same_bytes_and_decodes() {
        for format in [PictureFormat::Jpeg, PictureFormat::Tiff] {
            let a = encode(&render(&pic(format)), format);
            assert_eq!(a, pic(format).bytes().to_vec());
            let decoded = image::load_from_memory(&a).unwrap();
            assert_eq!((decoded.width(), decoded.height()), (320, 200));
        }
        let other = Picture {
            seed: 43,
            ..pic(PictureFormat::Jpeg)
        };
        assert_ne!(other.bytes(), pic(PictureFormat::Jpeg).bytes());
    }

    #[test]
    fn the_title_is_drawn_in() {
        let with = render(&pic(PictureFormat::Jpeg));
        let without = render(&Picture {
            title: String::new(),
            ..pic(PictureFormat::Jpeg)
        });
        // The banner darkens everything under it; the title is the bright part of it.
        let bright = |img: &RgbImage| {
            img.pixels()
                .filter(|p| p.0.iter().all(|v| *v > 200))
                .count()
        };
        assert!(
            bright(&with) > bright(&without) + 100,
            "{} {}",
            bright(&with),
            bright(&without)
        );
    }
}
