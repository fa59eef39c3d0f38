//! The views grid: layout, determinism and a readable PNG.

use mib::augment::{render_views_grid, write_views_png, AugmentConfig};
use mib::data::{load_named, PairingConfig};

#[test]
fn grid_layout_and_png_round_trip() -> anyhow::Result<()> {
    let s = load_named("mfeat", None, Some(&["pix".to_string()]))?;
    let pairing = PairingConfig::augment(AugmentConfig::reference());
    let img = render_views_grid(&s.train, &pairing, [0, 0], 5, 3, 2)?;
    // 3 tiles of 15*2 plus 4 gaps of 2; 5 tiles of 16*2 plus 6 gaps.
    assert_eq!((img.width, img.height), (3 * 30 + 8, 5 * 32 + 12));
    assert_eq!(img, render_views_grid(&s.train, &pairing, [0, 0], 5, 3, 2)?);
    assert_ne!(img, render_views_grid(&s.train, &pairing, [0, 0], 5, 4, 2)?);
    let p = std::env::temp_dir().join(format!("mib-grid-{}.png", std::process::id()));
    write_views_png(&p, &s.train, &pairing, [0, 0], 5, 3, 2)?;
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&p)?));
    let mut r = dec.read_info()?;
    let mut buf = vec![0; r.output_buffer_size()];
    let info = r.next_frame(&mut buf)?;
    assert_eq!(
        (info.width as usize, info.height as usize),
        (img.width, img.height)
    );
    assert_eq!(&buf[..info.buffer_size()], &img.pixels[..]);
    // a non-image view cannot be rendered
    let s2 = load_named("mfeat", None, None)?;
    assert!(render_views_grid(&s2.train, &PairingConfig::Aligned, [0, 1], 2, 0, 1).is_err());
    Ok(())
}
