//! Image views from the command line: a colour `[n, 3, h, w]` `.npy` trained with a conv encoder
//! (two augmentations of each image), a conv encoder on mfeat's pixel view beside an MLP on its
//! Fourier view (train, resume, embed, inspect), `mib views` on a colour file, and the settings
//! refused.

mod common;
use common::{npy_f32, ok, one_line_error, tmpdir};

use std::path::Path;

/// `n` colour images `[3, 8, 8]`: a bright square whose place and colour depend on the class.
fn write_colour(dir: &Path, n: usize) -> (String, String) {
    let (c, h, w) = (3, 8, 8);
    let mut data = vec![0.05f32; n * c * h * w];
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let k = i % 3;
        y.push(k as i64);
        for y0 in 0..3 {
            for x0 in 0..3 {
                let (yy, xx) = (1 + y0 + k * 2, 1 + x0 + (i % 2) * 3);
                data[i * c * h * w + k * h * w + yy * w + xx] = 0.9;
            }
        }
    }
    let views = dir.join("colour.npy");
    std::fs::write(&views, npy_f32(&[n, c, h, w], &data)).unwrap();
    let labels = dir.join("y.npy");
    std::fs::write(&labels, common::npy_i64(&y)).unwrap();
    (views.display().to_string(), labels.display().to_string())
}

#[test]
fn a_colour_npy_trains_with_a_conv_encoder() {
    let d = tmpdir("images-colour");
    let (views, labels) = write_colour(&d, 60);
    let cfg = d.join("conv.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"seed = 1
[data]
dataset = "npy"
views = ["{views}"]
labels = "{labels}"
[data.pairing]
kind = "augment"
[[data.pairing.augment.steps]]
kind = "random-affine"
degrees = 10.0
translate = [0.1, 0.1]
[model]
encoder_hidden = []
z_dim = 4
critic = "separable"
estimator = "infonce"
[model.encoder]
kind = "conv"
channels = [4, 8]
strides = [1, 2]
[train]
iterations = 6
batch_size = 16
threads = 1
[eval]
every = 0
"#
        ),
    )
    .unwrap();
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    ok(&[
        "train",
        "--quiet",
        "-c",
        cfg.to_str().unwrap(),
        "--out",
        run_s,
    ]);
    // the image shape [3, 8, 8] came from the array and is kept in the run's config
    let written = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(written.contains("image_shape"), "{written}");
    let inspect = String::from_utf8(ok(&["inspect", run_s]).stdout).unwrap();
    assert!(inspect.contains("conv [3, 8, 8]"), "{inspect}");
    let z = d.join("z.npy");
    ok(&["embed", run_s, "--out", z.to_str().unwrap()]);
    let a = mib::data::npy::read_npy(&z).unwrap();
    assert_eq!(a.shape, [12, 4]);
    // mib views renders the colour file (channels side by side)
    let png = d.join("views.png");
    let out = ok(&[
        "views",
        "--npy",
        &views,
        "--n",
        "3",
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("colour.npy"));
    assert!(std::fs::metadata(&png).unwrap().len() > 100);
    std::fs::remove_dir_all(&d).unwrap();
}

fn mixed_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let cfg = dir.join("mixed.toml");
    let text = common::small_mib_config(
        3,
        &format!(
            r#"critic = "separable"
estimator = "infonce"
{extra}
[model.encoders.pix]
kind = "conv"
channels = [4]
strides = [2]
[optim]
lr = 1e-3
[train]
iterations = 8
batch_size = 32
threads = 1
log_every = 2
checkpoint_every = 4
[eval]
every = 0
"#
        ),
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

#[test]
fn mixed_encoders_train_resume_and_embed_from_the_cli() {
    let d = tmpdir("images-mixed");
    let cfg = mixed_config(&d, "");
    let cfg_s = cfg.to_str().unwrap();
    let straight = d.join("straight");
    ok(&[
        "train",
        "--quiet",
        "-c",
        cfg_s,
        "--out",
        straight.to_str().unwrap(),
    ]);
    let inspect = String::from_utf8(ok(&["inspect", straight.to_str().unwrap()]).stdout).unwrap();
    assert!(
        inspect.contains("conv [1, 16, 15]") && inspect.contains("mlp 76-32-2x8"),
        "{inspect}"
    );
    // 4 iterations, then resumed to 8: the same embeddings as straight through
    let split = d.join("split");
    let split_s = split.to_str().unwrap();
    ok(&[
        "train",
        "--quiet",
        "-c",
        cfg_s,
        "--out",
        split_s,
        "--iterations",
        "4",
        "--keep-schedule",
    ]);
    ok(&["train", "--quiet", "--resume", split_s, "--iterations", "8"]);
    for view in ["0", "1"] {
        let za = d.join(format!("a{view}.npy"));
        let zb = d.join(format!("b{view}.npy"));
        ok(&[
            "embed",
            straight.to_str().unwrap(),
            "--view",
            view,
            "--out",
            za.to_str().unwrap(),
        ]);
        ok(&[
            "embed",
            split_s,
            "--view",
            view,
            "--out",
            zb.to_str().unwrap(),
        ]);
        let (a, b) = (std::fs::read(&za).unwrap(), std::fs::read(&zb).unwrap());
        assert_eq!(a, b, "view {view}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn differing_encoders_with_a_shared_encoder_are_refused() {
    let d = tmpdir("images-refused");
    let out = d.join("run");
    // `mixed_config` with `from` replaced by `to` is refused in one line holding `needles`
    let refused = |from: &str, to: &str, needles: &[&str]| {
        let cfg = mixed_config(&d, "");
        let text = std::fs::read_to_string(&cfg).unwrap().replace(from, to);
        std::fs::write(&cfg, text).unwrap();
        let args = [
            "train",
            "-c",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        one_line_error(&args, needles);
    };
    refused(
        "shared_encoder = false",
        "shared_encoder = true",
        &["model.shared_encoder", "model.encoders.pix"],
    );
    // a table for a view the data does not have names the key and the views
    refused(
        "[model.encoders.pix]",
        "[model.encoders.kar]",
        &["model.encoders.kar", "pix, fou"],
    );
    std::fs::remove_dir_all(&d).unwrap();
}
