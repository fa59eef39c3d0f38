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
