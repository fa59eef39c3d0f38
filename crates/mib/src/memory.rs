//! The memory a run needs, reckoned before it is taken.
//!
//! Settings decide buffers whose size grows with their product: an MLP critic with InfoNCE scores
//! every pair of a batch (`batch x batch` rows through the critic), and the encoder keeps
//! `batch x width` activations per layer. A setting that asks for more than the machine has must
//! not abort the process (Rust aborts when an allocation fails). So the large owners of memory
//! ([`crate::objectives::TrainStep`], its encoders, critic and optimizer) first add up what they
//! will allocate, as a [`MemoryPlan`] whose parts name the setting that drives them, and
//! [`MemoryPlan::check`] refuses the plan up front when it exceeds [`available_memory`]: one line
//! naming the setting, the bytes needed and the bytes available. The buffers themselves are then
//! allocated with [`try_zeros`], which returns an error instead of aborting where the estimate
//! and the machine disagree.

use crate::{Error, Result};

/// One owner of memory in a [`MemoryPlan`]: what it is, the setting that drives its size, and its
/// bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryPart {
    /// What the memory holds (`critic scores and their gradients (batch x batch)`).
    pub what: String,
    /// The config key that drives it most (`train.batch_size`).
    pub setting: String,
    /// That setting's value, as written.
    pub value: String,
    /// Bytes (`u128`: products of nonsense settings do not overflow).
    pub bytes: u128,
}

/// The memory a task will allocate, part by part.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemoryPlan {
    /// The parts, in the order they were added.
    pub parts: Vec<MemoryPart>,
}

/// How much memory the process may still take, and who says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Available {
    /// Bytes.
    pub bytes: u64,
    /// Where the number comes from (`MemAvailable`, `cgroup memory.max`, `ulimit -v`).
    pub source: &'static str,
}

impl MemoryPlan {
    /// An empty plan.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `floats` `f32` values held for `what`, driven by `setting` = `value`.
    pub fn add_f32(
        &mut self,
        what: impl Into<String>,
        setting: impl Into<String>,
        value: impl ToString,
        floats: u128,
    ) {
        self.add_bytes(what, setting, value, floats.saturating_mul(4));
    }

    /// Adds `bytes` held for `what`, driven by `setting` = `value`.
    pub fn add_bytes(
        &mut self,
        what: impl Into<String>,
        setting: impl Into<String>,
        value: impl ToString,
        bytes: u128,
    ) {
        self.parts.push(MemoryPart {
            what: what.into(),
            setting: setting.into(),
            value: value.to_string(),
            bytes,
        });
    }

    /// Adds every part of `other`.
    pub fn extend(&mut self, other: MemoryPlan) {
        self.parts.extend(other.parts);
    }

    /// The bytes of all parts.
    pub fn total(&self) -> u128 {
        self.parts
            .iter()
            .fold(0u128, |a, p| a.saturating_add(p.bytes))
    }

    /// Refuses the plan when it needs more than [`available_memory`] (no check where the system
    /// does not say). `task` names what the memory is for (`the training step`).
    pub fn check(&self, task: &str) -> Result<()> {
        self.check_against(task, available_memory())
    }

    /// [`MemoryPlan::check`] against `available` (`None`: only what no address space can hold,
    /// more than `isize::MAX` bytes, is refused).
    pub fn check_against(&self, task: &str, available: Option<Available>) -> Result<()> {
        let total = self.total();
        let limit = available.map_or(isize::MAX as u128, |a| a.bytes as u128);
        if total <= limit {
            return Ok(());
        }
        // The setting to name: the one behind the largest part.
        let mut parts: Vec<&MemoryPart> = self.parts.iter().filter(|p| p.bytes > 0).collect();
        parts.sort_by_key(|p| std::cmp::Reverse(p.bytes));
        let top = parts[0];
        let listed = parts
            .iter()
            .take(3)
            .map(|p| format!("{}: {}", p.what, format_bytes(p.bytes)))
            .collect::<Vec<_>>()
            .join("; ");
        let has = match available {
            Some(a) => format!(
                "{} is available ({})",
                format_bytes(a.bytes as u128),
                a.source
            ),
            None => "no address space holds that much".to_string(),
        };
        Err(Error::config(
            top.setting.clone(),
            top.value.clone(),
            format!(
                "{task} would need {} of memory ({listed}), and {has}; lower {}",
                format_bytes(total),
                top.setting
            ),
        ))
    }
}

/// Bytes as people read them: `512 B`, `3.2 MB`, `80.0 GB` (powers of 1000).
pub fn format_bytes(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// The memory this process may still take, where the system says: the least of the memory the
/// kernel can give without swapping (`MemAvailable`), the room left under the process's cgroup
/// limit (v2 `memory.max`, v1 `memory.limit_in_bytes`) and under its address-space limit
/// (`ulimit -v`). `None` where none of them is known (not Linux).
pub fn available_memory() -> Option<Available> {
    let mut best: Option<Available> = None;
    let mut offer = |bytes: Option<u64>, source: &'static str| {
        if let Some(bytes) = bytes {
            if best.is_none_or(|b| bytes < b.bytes) {
                best = Some(Available { bytes, source });
            }
        }
    };
    offer(meminfo_available(), "MemAvailable");
    offer(cgroup_room(), "cgroup memory limit");
    offer(address_space_room(), "ulimit -v");
    best
}

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn meminfo_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

/// Room under the cgroup memory limit of this process, if it has one.
fn cgroup_room() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    // cgroup v2: "0::/path"
    if let Some(path) = cgroups.lines().find_map(|l| l.strip_prefix("0::")) {
        let dir = format!("/sys/fs/cgroup{}", path.trim_end_matches('/'));
        for d in [dir.as_str(), "/sys/fs/cgroup"] {
            if let Some(max) = read_u64(&format!("{d}/memory.max")) {
                let used = read_u64(&format!("{d}/memory.current")).unwrap_or(0);
                return Some(max.saturating_sub(used));
            }
        }
    }
    // cgroup v1 (an unlimited group reports a huge number)
    let max = read_u64("/sys/fs/cgroup/memory/memory.limit_in_bytes")?;
    if max >= (1u64 << 60) {
        return None;
    }
    let used = read_u64("/sys/fs/cgroup/memory/memory.usage_in_bytes").unwrap_or(0);
    Some(max.saturating_sub(used))
}

/// Room under `RLIMIT_AS` (`ulimit -v`), if set: the limit less the current virtual size.
fn address_space_room() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit struct, which lives on this stack frame.
        if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } != 0
            || lim.rlim_cur == libc::RLIM_INFINITY
        {
            return None;
        }
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmSize:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(lim.rlim_cur.saturating_sub(kb.saturating_mul(1024)))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// `n` zeros, or an error naming `what` when the allocation fails (instead of aborting).
pub fn try_zeros(n: usize, what: &str) -> Result<Vec<f32>> {
    let mut v: Vec<f32> = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        Error::Data(format!(
            "could not allocate {} for {what}: out of memory",
            format_bytes(n as u128 * 4)
        ))
    })?;
    v.resize(n, 0.0);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_over_the_limit_names_its_largest_setting() {
        let mut p = MemoryPlan::new();
        p.add_f32(
            "encoder activations",
            "model.encoder_hidden",
            "[256]",
            1_000,
        );
        p.add_f32("critic scores", "train.batch_size", 100_000, 10_000_000_000);
        let avail = Some(Available {
            bytes: 8_000_000_000,
            source: "MemAvailable",
        });
        let e = p.check_against("the training step", avail).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("`train.batch_size` = 100000"), "{msg}");
        assert!(msg.contains("40.0 GB"), "{msg}");
        assert!(msg.contains("8.0 GB is available (MemAvailable)"), "{msg}");
        assert!(!msg.contains('\n'));
        assert!(p
            .check_against(
                "x",
                Some(Available {
                    bytes: u64::MAX,
                    source: "s"
                })
            )
            .is_ok());
    }

    #[test]
    fn huge_products_saturate_instead_of_wrapping() {
        let mut p = MemoryPlan::new();
        p.add_f32("a", "model.z_dim", u64::MAX, u128::MAX / 2);
        p.add_f32("b", "model.z_dim", u64::MAX, u128::MAX / 2);
        assert_eq!(p.total(), u128::MAX);
        assert!(p.check_against("t", None).is_err());
    }

    #[test]
    fn bytes_read_as_people_read_them() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(3_200_000), "3.2 MB");
        assert_eq!(format_bytes(40_000_000_000), "40.0 GB");
    }

    #[test]
    fn this_machine_says_how_much_is_available() {
        #[cfg(target_os = "linux")]
        assert!(available_memory().is_some_and(|a| a.bytes > 0));
    }

    #[test]
    fn an_impossible_allocation_is_an_error() {
        assert!(try_zeros(usize::MAX / 8, "a test").is_err());
        assert_eq!(try_zeros(3, "a test").unwrap(), vec![0.0; 3]);
    }
}
