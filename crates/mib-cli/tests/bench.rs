//! `mib bench`: the JSON that `scripts/bench_step*.{sh,py}` read, and the machine's ceiling.

use std::process::Command;

fn json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_mib"))
        .args(args)
        .output()
        .expect("run mib");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

fn num(v: &serde_json::Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn step_json_reports_the_rate_and_the_machines_ceiling() {
    let v = json(&[
        "bench",
        "step",
        "--batch",
        "16",
        "--steps",
        "3",
        "--warmup",
        "1",
        "--threads",
        "1",
        "--json",
    ]);
    let rate = num(&v, "steps_per_s");
    assert!(rate > 0.0 && rate.is_finite(), "{v}");
    // the ceiling is the products at the measured multiply-add peak plus one Adam update at the
    // measured memory floor (comparing it with the measured rate would be flaky: tests share cores)
    let (flop, peak, floor) = (
        num(&v, "gflop_per_step"),
        num(&v, "peak_gflop_per_s"),
        num(&v, "adam_floor_ms"),
    );
    assert!(flop > 0.0 && peak > 0.0 && floor > 0.0, "{v}");
    let want = 1.0 / (flop / peak + floor / 1e3);
    let ceiling = num(&v, "ceiling_steps_per_s");
    assert!(
        (ceiling - want).abs() <= 1e-9 * want,
        "{ceiling} vs {want}: {v}"
    );
    let frac = num(&v, "fraction_of_peak");
    assert!(
        (frac - num(&v, "gflop_per_s") / peak).abs() <= 1e-9 * frac,
        "{v}"
    );
    let quiet = json(&[
        "bench",
        "step",
        "--batch",
        "8",
        "--steps",
        "1",
        "--warmup",
        "0",
        "--threads",
        "1",
        "--json",
        "--no-peak",
    ]);
    assert!(quiet["ceiling_steps_per_s"].is_null(), "{quiet}");
}

#[test]
fn peak_json_and_bad_thread_counts() {
    let v = json(&[
        "bench",
        "peak",
        "--threads",
        "1",
        "--millis",
        "20",
        "--params",
        "100000",
        "--json",
    ]);
    assert!(
        num(&v, "gflop_per_s") > 0.0 && num(&v, "adam_floor_ms") > 0.0,
        "{v}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_mib"))
        .args(["bench", "peak", "--threads", "0"])
        .output()
        .expect("run mib");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("threads"));
}

/// `--encoder conv` times issue 22's conv step (the architecture `bench_step_torch.py --encoder
/// conv` builds) and says where the convolutions' time goes; the MLP step reports no breakdown.
#[test]
fn conv_step_json_names_the_encoder_and_breaks_the_convolutions_down() {
    let args = |enc: &'static str| {
        vec![
            "bench",
            "step",
            "--encoder",
            enc,
            "--critic",
            "separable",
            "--estimator",
            "infonce",
            "--batch",
            "4",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--threads",
            "1",
            "--no-peak",
            "--json",
        ]
    };
    let v = json(&args("conv"));
    let enc = v["encoder"].as_str().unwrap();
    assert!(
        enc.starts_with(
            "conv [1, 28, 28] -> 32@28x28 (k3 s1 p1) -> 64@14x14 (k3 s2 p1) -> 128@7x7"
        ),
        "{enc}"
    );
    assert!(enc.ends_with("flat 6272-2x64"), "{enc}");
    // 3x3 convolutions 1-32-64-128 and the 6272 -> 128 head
    let params = 32 * 9 + 32 + 64 * 32 * 9 + 64 + 128 * 64 * 9 + 128 + 6272 * 128 + 128;
    assert_eq!(num(&v, "parameters") as usize, params, "{v}");
    let conv = &v["conv"];
    assert_eq!(
        conv["rows"].as_u64(),
        Some(8),
        "both views of the batch: {v}"
    );
    assert!(
        num(conv, "forward_ms") > 0.0 && num(conv, "backward_ms") > 0.0,
        "{v}"
    );
    let phases = conv["phases_ms"].as_array().unwrap();
    let names: Vec<&str> = phases.iter().map(|p| p[0].as_str().unwrap()).collect();
    for want in [
        "forward.im2col",
        "forward.gemm",
        "backward.dw_gemm",
        "backward.dx_gemm",
    ] {
        let i = names
            .iter()
            .position(|n| *n == want)
            .unwrap_or_else(|| panic!("{want}: {v}"));
        assert!(phases[i][1].as_f64().unwrap() > 0.0, "{want}: {v}");
    }
    let mlp = json(&args("mlp"));
    assert!(mlp["conv"].is_null(), "{mlp}");
    assert!(
        mlp["encoder"]
            .as_str()
            .unwrap()
            .starts_with("mlp 784-1024-1024"),
        "{mlp}"
    );
}
