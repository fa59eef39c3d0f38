//! Training from views larger than memory (`mib bench scale`).
//!
//! [`bench_scale`] writes a synthetic MIR-Flickr-sized dataset to disk: by default 1,000,000 items,
//! an "image" view of 3,857 `f2` features and a "tags" view of 2,000 `u1` values (9.7 GB), plus
//! class labels. Each item has one of 38 topics; its image features are the topic's prototype plus
//! noise and its tags are drawn with the topic's tag rates, so the two views share what MIB is to
//! keep. It then trains the `demo` recipe on the memory-mapped files and, in alternating rounds,
//! the same model on an in-memory `f32` subset of the same rows, and reports:
//!
//! - time from opening the files to the end of the first training step (no pass over the files is
//!   made before training: only the in-memory sample for the input scaling is read);
//! - training steps per second from the maps and from memory, and their ratio, per round;
//! - the process's anonymous resident memory (`RssAnon`, `/proc/self/status`) during the mapped
//!   rounds, against the memory the model's parameters, gradients and Adam moments take.
//!
//! The files are removed at the end (also when the benchmark fails) unless `keep` is set.

use crate::config::TrainConfig;
use crate::data::{self, mapped::MappedViews, DatasetSplits, MemoryMap};
use crate::train::{self, RunOptions, TrainObserver};
use crate::{Error, Result};
use rayon::prelude::*;
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// What to build and measure.
#[derive(Clone, Debug)]
pub struct ScaleBenchConfig {
    /// Folder for the dataset files (created; removed at the end unless `keep`).
    pub dir: PathBuf,
    /// Items (default 1,000,000).
    pub items: usize,
    /// Width of the `f2` image view (default 3,857).
    pub image_dim: usize,
    /// Width of the `u1` tags view (default 2,000).
    pub tag_dim: usize,
    /// Topics (classes; default 38).
    pub topics: usize,
    /// Items of the in-memory subset the comparison trains from (default 50,000).
    pub memory_items: usize,
    /// Training iterations per round (default 300).
    pub iterations: u64,
    /// Rounds, each one mapped run and one in-memory run (default 3).
    pub rounds: usize,
    /// Compute threads (0 = all cores).
    pub threads: usize,
    /// Keep the files (default: remove them).
    pub keep: bool,
    /// Drop the page cache (`/proc/sys/vm/drop_caches`, needs root) before each mapped run, so
    /// that its rows come from the disk.
    pub cold: bool,
    /// Seed of the data and of training.
    pub seed: u64,
}

impl Default for ScaleBenchConfig {
    fn default() -> Self {
        ScaleBenchConfig {
            dir: std::env::temp_dir().join("mib-bench-scale"),
            items: 1_000_000,
            image_dim: 3857,
            tag_dim: 2000,
            topics: 38,
            memory_items: 50_000,
            iterations: 300,
            rounds: 3,
            threads: 0,
            keep: false,
            cold: false,
            seed: 0,
        }
    }
}

/// One round: the same model and iterations from the maps and from memory.
#[derive(Clone, Debug, Serialize)]
pub struct ScaleRound {
    /// Steps per second training from the memory-mapped files (after the first 10 steps).
    pub mapped_steps_per_s: f64,
    /// Steps per second training from the in-memory subset (after the first 10 steps).
    pub memory_steps_per_s: f64,
    /// `mapped / memory`.
    pub ratio: f64,
    /// Seconds from opening the mapped files to the end of the first step.
    pub mapped_first_step_s: f64,
    /// Peak `RssAnon` sampled during the mapped run, MiB.
    pub mapped_rss_anon_mib: Option<f64>,
}

/// The measurement.
#[derive(Clone, Debug, Serialize)]
pub struct ScaleBenchReport {
    /// Items on disk.
    pub items: usize,
    /// View widths (image `f2`, tags `u1`).
    pub view_dims: [usize; 2],
    /// Bytes of the view files on disk.
    pub file_bytes: u64,
    /// Bytes the views would take in memory as `f32`.
    pub f32_bytes: u64,
    /// Seconds to write the files.
    pub write_s: f64,
    /// Items of the in-memory subset.
    pub memory_items: usize,
    /// Iterations per run.
    pub iterations: u64,
    /// Batch size.
    pub batch_size: usize,
    /// Compute threads.
    pub threads: usize,
    /// The rounds.
    pub rounds: Vec<ScaleRound>,
    /// Median of the rounds' ratios.
    pub median_ratio: f64,
    /// Worst time to the first step, seconds.
    pub max_first_step_s: f64,
    /// `RssAnon` before the files were opened, MiB.
    pub rss_anon_before_mib: Option<f64>,
    /// Peak `RssAnon` over the mapped runs, MiB.
    pub mapped_rss_anon_peak_mib: Option<f64>,
    /// Parameters, gradients and two Adam moments of the model, MiB.
    pub model_mib: f64,
    /// `mapped_rss_anon_peak - rss_anon_before - model`, MiB.
    pub rss_anon_beyond_model_mib: Option<f64>,
    /// Rows of each in-memory sample of a mapped split (scaling, probes, evaluation).
    pub sample_items: usize,
}

/// `RssAnon` of this process in MiB (Linux), from `/proc/self/status`.
pub fn rss_anon_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// SplitMix64.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform value in [0, 1) from 24 bits of `h`.
fn unit(h: u64) -> f32 {
    (h >> 40) as f32 * (1.0 / 16_777_216.0)
}

/// The `.npy` header (version 1.0, padded to 64 bytes) of a C-ordered array of dtype `descr`
/// and `shape`.
fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let total = (10 + dict.len() + 1).div_ceil(64) * 64;
    let mut h = b"\x93NUMPY\x01\x00".to_vec();
    h.extend_from_slice(&((total - 10) as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h.resize(total - 1, b' ');
    h.push(b'\n');
    h
}

/// Removes the benchmark's files when dropped (unless kept).
struct Cleanup<'a>(&'a Path, bool);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_dir_all(self.0);
        }
    }
}

/// Writes the synthetic dataset into `cfg.dir`: `image.npy` (`f2`), `tags.npy` (`u1`) and
/// `topics.npy` (`i8` labels). Returns the view files' bytes.
fn write_dataset(cfg: &ScaleBenchConfig, say: &mut dyn FnMut(&str)) -> Result<u64> {
    let (n, di, dt, k) = (cfg.items, cfg.image_dim, cfg.tag_dim, cfg.topics.max(1));
    std::fs::create_dir_all(&cfg.dir).map_err(|e| Error::io("creating", &cfg.dir, e))?;
    let s = cfg.seed;
    // Topic prototypes (image) and tag rates (sparse: about 2 % of tags per topic are common).
    let proto: Vec<f32> = (0..k * di)
        .map(|i| 2.0 * unit(mix(s ^ 0x1000 ^ i as u64)) - 1.0)
        .collect();
    let rate: Vec<f32> = (0..k * dt)
        .map(|i| {
            let u = unit(mix(s ^ 0x2000 ^ i as u64));
            if u < 0.02 {
                0.6
            } else {
                0.003
            }
        })
        .collect();
    let topic = |i: usize| (mix(s ^ 0x3000 ^ i as u64) % k as u64) as usize;
    let paths = [
        cfg.dir.join("image.npy"),
        cfg.dir.join("tags.npy"),
        cfg.dir.join("topics.npy"),
    ];
    let open = |p: &Path| -> Result<std::io::BufWriter<std::fs::File>> {
        Ok(std::io::BufWriter::with_capacity(
            1 << 22,
            std::fs::File::create(p).map_err(|e| Error::io("creating", p, e))?,
        ))
    };
    let (mut wi, mut wt, mut wy) = (open(&paths[0])?, open(&paths[1])?, open(&paths[2])?);
    fn werr(p: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
        move |e| Error::io("writing", p, e)
    }
    wi.write_all(&npy_header("<f2", &[n, di]))
        .map_err(werr(&paths[0]))?;
    wt.write_all(&npy_header("|u1", &[n, dt]))
        .map_err(werr(&paths[1]))?;
    wy.write_all(&npy_header("<i8", &[n]))
        .map_err(werr(&paths[2]))?;
    const CHUNK: usize = 8192;
    let mut img = vec![0u8; CHUNK * di * 2];
    let mut tag = vec![0u8; CHUNK * dt];
    let t0 = Instant::now();
    for start in (0..n).step_by(CHUNK) {
        let m = CHUNK.min(n - start);
        img[..m * di * 2]
            .par_chunks_mut(di * 2)
            .zip(tag[..m * dt].par_chunks_mut(dt))
            .enumerate()
            .for_each(|(r, (ib, tb))| {
                let i = start + r;
                let c = topic(i);
                let mut h = mix(s ^ 0x4000 ^ i as u64);
                for (j, o) in ib.chunks_exact_mut(2).enumerate() {
                    h = mix(h);
                    // prototype plus uniform noise of about the prototype's spread
                    let x = proto[c * di + j] + 1.5 * (unit(h) - 0.5);
                    o.copy_from_slice(&data::npy::f32_to_f16(x).to_le_bytes());
                }
                for (j, o) in tb.iter_mut().enumerate() {
                    h = mix(h);
                    *o = u8::from(unit(h) < rate[c * dt + j]);
                }
            });
        wi.write_all(&img[..m * di * 2]).map_err(werr(&paths[0]))?;
        wt.write_all(&tag[..m * dt]).map_err(werr(&paths[1]))?;
        for i in start..start + m {
            wy.write_all(&(topic(i) as i64).to_le_bytes())
                .map_err(werr(&paths[2]))?;
        }
        if (start / CHUNK) % 16 == 0 {
            say(&format!(
                "writing {}: {} / {n} items ({:.0} s)",
                cfg.dir.display(),
                start + m,
                t0.elapsed().as_secs_f64()
            ));
        }
    }
    for (w, p) in [(wi, &paths[0]), (wt, &paths[1]), (wy, &paths[2])] {
        w.into_inner()
            .map_err(|e| Error::io("writing", p, e.into_error()))?
            .sync_all()
            .map_err(|e| Error::io("syncing", p, e))?;
    }
    Ok(paths[..2]
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum())
}

/// Times the steps of a run: the end of the first step, and the steps after the first 10.
struct Timer {
    t0: Instant,
    first: Option<f64>,
    mark: Option<(u64, Instant)>,
    last: Option<(u64, Instant)>,
    rss_peak: Option<f64>,
}

impl TrainObserver for Timer {
    fn should_stop(&mut self, it: u64) -> bool {
        let now = Instant::now();
        if it == 1 && self.first.is_none() {
            self.first = Some(now.duration_since(self.t0).as_secs_f64());
        }
        if it == 10 {
            self.mark = Some((it, now));
        }
        self.last = Some((it, now));
        if it % 25 == 0 {
            if let Some(r) = rss_anon_mib() {
                self.rss_peak = Some(self.rss_peak.map_or(r, |p: f64| p.max(r)));
            }
        }
        false
    }
}

impl Timer {
    fn new(t0: Instant) -> Self {
        Timer {
            t0,
            first: None,
            mark: None,
            last: None,
            rss_peak: None,
        }
    }
    fn steps_per_s(&self) -> f64 {
        match (self.mark, self.last) {
            (Some((a, ta)), Some((b, tb))) if b > a => {
                (b - a) as f64 / tb.duration_since(ta).as_secs_f64()
            }
            _ => f64::NAN,
        }
    }
}

/// The `demo` recipe on the benchmark's files, `iterations` long, no probe during training.
fn bench_config(cfg: &ScaleBenchConfig, paths: &[PathBuf]) -> Result<TrainConfig> {
    let mut t = TrainConfig::from_toml_str(
        crate::presets::preset("demo").expect("the demo preset is embedded"),
        "demo",
    )?;
    t.beta = t.beta.scaled(t.train.iterations, cfg.iterations);
    t.seed = cfg.seed;
    t.train.iterations = cfg.iterations;
    t.train.threads = cfg.threads;
    t.train.checkpoint_every = cfg.iterations;
    t.train.log_every = cfg.iterations;
    t.train.keep_checkpoints = 1;
    t.eval.every = 0;
    t.data.dataset = "npy".into();
    t.data.views = paths.iter().map(|p| p.display().to_string()).collect();
    t.data.labels = Some(cfg.dir.join("topics.npy"));
    t.data.test_fraction = 0.02;
    t.data.memory_map = MemoryMap::Always;
    Ok(t)
}

/// Runs the benchmark; `say` receives progress lines.
pub fn bench_scale(cfg: &ScaleBenchConfig, say: &mut dyn FnMut(&str)) -> Result<ScaleBenchReport> {
    if cfg.items < 1000 || cfg.memory_items == 0 || cfg.rounds == 0 || cfg.iterations < 20 {
        return Err(Error::config(
            "bench scale",
            format!(
                "items {}, memory items {}, rounds {}, iterations {}",
                cfg.items, cfg.memory_items, cfg.rounds, cfg.iterations
            ),
            "need items >= 1000, memory items >= 1, rounds >= 1, iterations >= 20",
        ));
    }
    if cfg.dir.exists() {
        return Err(Error::config(
            "dir",
            cfg.dir.display(),
            "exists already; give a new folder (it is removed at the end)",
        ));
    }
    let rss_before = rss_anon_mib();
    let _cleanup = Cleanup(&cfg.dir, cfg.keep);
    let t_write = Instant::now();
    let file_bytes = write_dataset(cfg, say)?;
    let write_s = t_write.elapsed().as_secs_f64();
    let paths = vec![cfg.dir.join("image.npy"), cfg.dir.join("tags.npy")];
    let tcfg = bench_config(cfg, &paths)?;
    let threads = crate::pool::resolve_threads(cfg.threads);
    let runs = cfg.dir.join("runs");
    let mut rounds = Vec::new();
    let mut sample_items = 0;
    let mut model_mib = 0.0;
    for round in 0..cfg.rounds {
        if cfg.cold {
            drop_page_cache()?;
        }
        // From the maps: open, split, sample, train.
        let t0 = Instant::now();
        let data = data::load_splits(&tcfg)?;
        sample_items = data.train.len();
        let (timer, params) = timed_train(&tcfg, &data, &runs.join(format!("mapped-{round}")), t0)?;
        model_mib = (params * 4 * 4) as f64 / (1 << 20) as f64;
        let mapped = (
            timer.steps_per_s(),
            timer.first.unwrap_or(f64::NAN),
            timer.rss_peak,
        );
        drop(data);
        say(&format!(
            "round {round}: mapped {:.1} steps/s, first step after {:.2} s",
            mapped.0, mapped.1
        ));
        // From memory: the first `memory_items` rows as f32, the same model and config.
        let rows = MappedViews::open(&paths, Some(&cfg.dir.join("topics.npy")))?;
        let m = cfg.memory_items.min(rows.len());
        let n_test = (m / 50).max(1);
        let idx: Vec<usize> = (0..m).collect();
        let mem = DatasetSplits {
            train: Arc::new(in_memory(&rows.select(&idx[n_test..]))?),
            test: in_memory(&rows.select(&idx[..n_test]))?,
            train_rows: None,
            test_rows: None,
        };
        let mut mcfg = tcfg.clone();
        mcfg.data.memory_map = MemoryMap::Never;
        let dir = runs.join(format!("memory-{round}"));
        let memory = timed_train(&mcfg, &mem, &dir, Instant::now())?
            .0
            .steps_per_s();
        say(&format!("round {round}: in memory {memory:.1} steps/s"));
        rounds.push(ScaleRound {
            mapped_steps_per_s: mapped.0,
            memory_steps_per_s: memory,
            ratio: mapped.0 / memory,
            mapped_first_step_s: mapped.1,
            mapped_rss_anon_mib: mapped.2,
        });
    }
    let mut ratios: Vec<f64> = rounds.iter().map(|r| r.ratio).collect();
    ratios.sort_by(f64::total_cmp);
    let peak = rounds
        .iter()
        .filter_map(|r| r.mapped_rss_anon_mib)
        .reduce(f64::max);
    let (di, dt) = (cfg.image_dim as u64, cfg.tag_dim as u64);
    Ok(ScaleBenchReport {
        items: cfg.items,
        view_dims: [cfg.image_dim, cfg.tag_dim],
        file_bytes,
        f32_bytes: cfg.items as u64 * (di + dt) * 4,
        write_s,
        memory_items: cfg.memory_items,
        iterations: cfg.iterations,
        batch_size: tcfg.train.batch_size,
        threads,
        median_ratio: ratios[ratios.len() / 2],
        max_first_step_s: rounds
            .iter()
            .map(|r| r.mapped_first_step_s)
            .fold(0.0, f64::max),
        rss_anon_before_mib: rss_before,
        mapped_rss_anon_peak_mib: peak,
        model_mib,
        rss_anon_beyond_model_mib: peak.zip(rss_before).map(|(p, b)| p - b - model_mib),
        sample_items,
        rounds,
    })
}

/// Writes dirty pages and drops the page cache (Linux, root).
fn drop_page_cache() -> Result<()> {
    // SAFETY: sync() takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let p = Path::new("/proc/sys/vm/drop_caches");
    std::fs::write(p, b"1\n").map_err(|e| Error::io("writing (needs root)", p, e))
}

/// Every item of `rows` in memory (as `f32`), with its labels.
fn in_memory(rows: &MappedViews) -> Result<crate::data::MultiViewDataset> {
    rows.sample(u64::MAX)
}

/// Trains `cfg` on `data` into `dir`, timing its steps from `t0`; also returns the model's
/// parameter count.
fn timed_train(
    cfg: &TrainConfig,
    data: &DatasetSplits,
    dir: &Path,
    t0: Instant,
) -> Result<(Timer, usize)> {
    let mut timer = Timer::new(t0);
    let (_, model) = train::train(cfg, data, dir, &RunOptions::default(), &mut timer)?;
    Ok((timer, model.step().params().len()))
}
