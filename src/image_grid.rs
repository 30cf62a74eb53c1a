//! PNG grids of images, for reconstructions and samples.

use std::io::Cursor;
use std::path::Path;

use image::{GrayImage, ImageFormat, Luma};

use crate::error::CsvaeError;

/// Gap between tiles and around the grid, in pixels.
const GAP: u32 = 2;
/// Grey level of the gaps.
const GAP_SHADE: u8 = 96;

/// Writes rows of single-channel images as one PNG, atomically.
///
/// Each row is a list of images of `height * width` values in [0, 1] (values outside are
/// clipped). Rows may differ in length; short rows leave gaps.
///
/// # Errors
/// [`CsvaeError::Image`] for an empty grid or an image of the wrong size, [`CsvaeError::Io`]
/// when writing fails.
pub fn save_image_grid(
    path: &Path,
    rows: &[Vec<Vec<f32>>],
    height: usize,
    width: usize,
) -> Result<(), CsvaeError> {
    let image_error = |message: String| CsvaeError::Image {
        path: path.to_path_buf(),
        message,
    };
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    if columns == 0 || height == 0 || width == 0 {
        return Err(image_error("the grid holds no image".into()));
    }
    let (h, w) = (height as u32, width as u32);
    let grid_w = GAP + columns as u32 * (w + GAP);
    let grid_h = GAP + rows.len() as u32 * (h + GAP);
    let mut canvas = GrayImage::from_pixel(grid_w, grid_h, Luma([GAP_SHADE]));
    for (r, row) in rows.iter().enumerate() {
        for (c, tile) in row.iter().enumerate() {
            if tile.len() != height * width {
                return Err(image_error(format!(
                    "image at row {r}, column {c} has {} values, expected {height}x{width}",
                    tile.len()
                )));
            }
            let (x0, y0) = (GAP + c as u32 * (w + GAP), GAP + r as u32 * (h + GAP));
            for y in 0..h {
                for x in 0..w {
                    let value = tile[(y * w + x) as usize];
                    let shade = (value.clamp(0.0, 1.0) * 255.0).round() as u8;
                    canvas.put_pixel(x0 + x, y0 + y, Luma([shade]));
                }
            }
        }
    }
    let mut bytes = Vec::new();
    canvas
        .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .map_err(|e| image_error(e.to_string()))?;
    csvae_data::fs::write_atomic(path, &bytes).map_err(|source| CsvaeError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_has_expected_size_and_pixels() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("grid.png");
        let white = vec![1.0f32; 4];
        let black = vec![0.0f32; 4];
        save_image_grid(&path, &[vec![white.clone(), black], vec![white]], 2, 2).expect("save");
        let image = image::open(&path).expect("png").to_luma8();
        // 2 columns: 2 + 2 * (2 + 2) = 10 wide; 2 rows: 10 high.
        assert_eq!(image.dimensions(), (10, 10));
        assert_eq!(image.get_pixel(2, 2).0[0], 255);
        assert_eq!(image.get_pixel(6, 2).0[0], 0);
        assert_eq!(image.get_pixel(0, 0).0[0], GAP_SHADE);
    }

    #[test]
    fn wrong_tile_size_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("grid.png");
        let err = save_image_grid(&path, &[vec![vec![0.5; 3]]], 2, 2).unwrap_err();
        assert!(err.to_string().contains("3 values"), "{err}");
        assert!(!path.exists(), "no file is left behind");
    }
}
