//! The representations a trained encoder gives ([`Representation`]): posterior means, the
//! encoder's last hidden layer, or both; checked against a plain computation from the parameters.

use mib::config::{Representation, TrainConfig};
use mib::models::TrainedModel;
use mib::objectives::{EncoderConfig, ObjectiveKind};
use mib::{Matrix, MibRng};
use rand::{Rng, SeedableRng};

const D: usize = 6;

fn model(objective: ObjectiveKind, hidden: Vec<usize>) -> TrainedModel {
    let mut cfg = TrainConfig::default();
    cfg.model.objective = objective;
    cfg.model.encoder_hidden = hidden;
    cfg.model.z_dim = 3;
    cfg.model.critic_hidden = vec![8];
    cfg.model.decoder_hidden = vec![8];
    cfg.model.shared_encoder = false;
    let dims = if objective.is_multi_view() {
        vec![D, D + 1]
    } else {
        vec![D]
    };
    TrainedModel::untrained(&cfg, &dims, 0, Vec::new(), 1).unwrap()
}

fn rows(n: usize, d: usize, seed: u64) -> Matrix {
    let mut rng = MibRng::seed_from_u64(seed);
    Matrix::new(
        n,
        d,
        (0..n * d).map(|_| rng.random::<f32>() - 0.5).collect(),
    )
    .unwrap()
}

/// `relu(x W + b)` of dense layer `l` of encoder `prefix`, from the stored parameters.
fn dense_relu(model: &TrainedModel, prefix: &str, l: usize, x: &[f32], d_in: usize) -> Vec<f32> {
    let p = model.step().params();
    let w = p.get(&format!("{prefix}.layers.{l}.weight")).unwrap();
    let b = p.get(&format!("{prefix}.layers.{l}.bias")).unwrap();
    let d_out = b.len();
    assert_eq!(w.len(), d_in * d_out);
    let n = x.len() / d_in;
    let mut y = vec![0f32; n * d_out];
    for i in 0..n {
        for o in 0..d_out {
            let mut s = b[o] as f64;
            for k in 0..d_in {
                s += x[i * d_in + k] as f64 * w[k * d_out + o] as f64;
            }
            y[i * d_out + o] = s.max(0.0) as f32;
        }
    }
    y
}

#[test]
fn hidden_is_the_last_hidden_layer_and_mean_hidden_puts_both_side_by_side() {
    let mut m = model(ObjectiveKind::Mib, vec![5, 4]);
    assert_eq!(
        m.describe_encoders(),
        [
            "view 0 (view0): mlp 6-5-4-2x3",
            "view 1 (view1): mlp 7-5-4-2x3"
        ]
    );
    // 600 rows: more than one inference chunk (512 rows)
    let x = rows(600, D + 1, 1);
    let h1 = dense_relu(&m, "encoder_v2", 0, &x.data, D + 1);
    let h2 = dense_relu(&m, "encoder_v2", 1, &h1, 5);
    let hidden = m.represent(1, &x, Representation::Hidden).unwrap();
    assert_eq!((hidden.rows, hidden.cols), (600, 4));
    assert_eq!(m.representation_dim(1, Representation::Hidden), 4);
    for (a, b) in hidden.data.iter().zip(&h2) {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
    }
    let mean = m.embed(1, &x).unwrap();
    let both = m.represent(1, &x, Representation::MeanHidden).unwrap();
    assert_eq!(both.cols, 3 + 4);
    assert_eq!(m.representation_dim(1, Representation::MeanHidden), 7);
    for i in 0..x.rows {
        assert_eq!(&both.row(i)[..3], mean.row(i));
        assert_eq!(&both.row(i)[3..], hidden.row(i));
    }
    assert_eq!(
        m.represent(1, &x, Representation::Mean).unwrap().data,
        mean.data
    );
}

#[test]
fn without_hidden_layers_the_hidden_representation_is_the_scaled_input() {
    let mut m = model(ObjectiveKind::Mib, vec![]);
    let x = rows(7, D, 2);
    let h = m.represent(0, &x, Representation::Hidden).unwrap();
    assert_eq!(h.data, x.data); // no scaling was fitted: the input itself
}

#[test]
fn single_view_objectives_and_conv_encoders_give_their_hidden_layer() {
    let mut m = model(ObjectiveKind::Vae, vec![9]);
    let x = rows(4, D, 3);
    assert_eq!(m.represent(1, &x, Representation::Hidden).unwrap().cols, 9);
    assert_eq!(m.representation_dim(1, Representation::MeanHidden), 3 + 9);

    let mut cfg = TrainConfig::default();
    cfg.model.encoder = Some(EncoderConfig::conv(vec![2], [1, 2, 3]));
    cfg.model.encoder_hidden = vec![];
    cfg.model.z_dim = 2;
    cfg.model.critic_hidden = vec![4];
    let mut m = TrainedModel::untrained(&cfg, &[D, D], 0, Vec::new(), 1).unwrap();
    assert_eq!(
        m.describe_encoders(),
        ["views 0..1 (shared): conv [1, 2, 3] -> 2@2x3 (k3 s1 p1), flat 12-2x2"]
    );
    // 2 channels of 2 x 3 (stride 1, padding 1 of a 3x3 kernel), flattened
    let h = m.represent(0, &x, Representation::Hidden).unwrap();
    assert_eq!((h.rows, h.cols), (4, 12));
    assert!(h.data.iter().all(|v| *v >= 0.0)); // after the ReLU
}

#[test]
fn the_dataset_paths_follow_the_chosen_representation_and_names_parse() {
    let mut m = model(ObjectiveKind::Mib, vec![5]);
    assert_eq!(m.representation(), Representation::Mean);
    m.set_representation(Representation::Hidden);
    let ds = mib::data::MultiViewDataset::new(vec![rows(9, D, 4), rows(9, D + 1, 5)], None, None)
        .unwrap();
    assert_eq!(m.embed_dataset(&ds, 0).unwrap().cols, 5);
    for r in Representation::ALL {
        assert_eq!(r.name().parse::<Representation>().unwrap(), r);
    }
    let err = "median".parse::<Representation>().unwrap_err().to_string();
    assert!(
        err.contains("median") && err.contains("mean+hidden"),
        "{err}"
    );
    // the config key, with its default
    let cfg = TrainConfig::from_toml_str("[eval]\nrepresentation = \"hidden\"\n", "t").unwrap();
    assert_eq!(cfg.eval.representation, Representation::Hidden);
    assert_eq!(
        TrainConfig::default().eval.representation,
        Representation::Mean
    );
    assert!(TrainConfig::from_toml_str("[eval]\nrepresentation = \"z\"\n", "t").is_err());
}
