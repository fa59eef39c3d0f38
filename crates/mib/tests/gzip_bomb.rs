//! Gzip bombs: a compressed IDX or CSV file that expands far beyond what it declares (or beyond a
//! sane size) is refused without ever holding the expanded stream. A counting allocator (this test
//! binary's own) measures the peak heap while each reader runs.

use mib::data::{array, csv, idx, CsvOptions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

struct Peak;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static A: Peak = Peak;

/// One measurement at a time (the counters are process-wide).
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` and returns its result with the peak heap growth (bytes above the start) during it.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.load(Ordering::SeqCst);
    PEAK.store(start, Ordering::SeqCst);
    let out = f();
    (out, PEAK.load(Ordering::SeqCst).saturating_sub(start))
}

const MB: usize = 1 << 20;

/// `head` followed by `zeros` zero bytes, gzip-compressed as a stream (never held expanded).
fn bomb(head: &[u8], zeros: usize) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(head).unwrap();
    let chunk = vec![0u8; MB];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(MB);
        enc.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
    enc.finish().unwrap()
}

fn idx_header(dims: &[u32]) -> Vec<u8> {
    let mut h = vec![0, 0, 0x08, dims.len() as u8];
    dims.iter().for_each(|d| h.extend(d.to_be_bytes()));
    h
}

/// 100 images of 28 x 28 declared (78,416 bytes with the header), 200 MiB of zeros delivered.
#[test]
fn idx_bomb_stops_at_the_declared_size() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let gz = bomb(&idx_header(&[100, 28, 28]), 200 * MB);
    eprintln!("bomb: {} bytes compressed", gz.len());
    let p = Path::new("train-images-idx3-ubyte.gz");
    let t = Instant::now();
    let (r, peak) = peak_during(|| idx::parse_idx(gz, p));
    let e = r.unwrap_err().to_string();
    eprintln!("{e}; peak heap {peak} bytes, {:?}", t.elapsed());
    assert!(
        e.contains("train-images-idx3-ubyte.gz") && e.contains("trailing") && e.contains("78416"),
        "{e}"
    );
    assert!(
        peak < 4 * MB,
        "peak heap {peak} bytes while refusing the bomb"
    );
}

/// A header that declares more than the cap is refused before anything is allocated for it.
#[test]
fn idx_declared_size_over_the_cap_is_refused_up_front() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // 65,536 x 65,536 x 2 bytes = 8 GiB declared; 1 MiB delivered.
    let gz = bomb(&idx_header(&[65_536, 65_536, 2]), MB);
    let (r, peak) = peak_during(|| idx::parse_idx(gz, Path::new("big.idx.gz")));
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains("big.idx.gz") && e.contains("limit") && e.contains("[65536, 65536, 2]"),
        "{e}"
    );
    assert!(peak < MB, "peak heap {peak} bytes");
}

/// A valid gzip IDX file still reads, and a short stream is still reported as truncated.
#[test]
fn idx_gzip_valid_and_truncated() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut raw = idx_header(&[3, 2]);
    raw.extend([1, 2, 3, 4, 5, 6]);
    let a = idx::parse_idx(bomb(&raw, 0), Path::new("ok.gz")).unwrap();
    assert_eq!(a.shape, [3, 2]);
    let e = idx::parse_idx(bomb(&raw[..raw.len() - 1], 0), Path::new("short.gz"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("truncated") && e.contains("short.gz"), "{e}");
}

/// The generic gunzip (used for CSV) stops at its cap.
#[test]
fn gunzip_stops_at_its_cap() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let gz = bomb(b"1,2,3\n", 100 * MB);
    let (r, peak) =
        peak_during(|| array::maybe_gunzip_limited(gz, Path::new("x.csv.gz"), MB as u64));
    let e = r.unwrap_err().to_string();
    assert!(
        e.contains("x.csv.gz") && e.contains("more than 1048576 bytes"),
        "{e}"
    );
    assert!(peak < 4 * MB, "peak heap {peak} bytes");
    // Within the cap, the data comes back whole.
    let small = bomb(b"1,2,3\n", 10);
    let out = array::maybe_gunzip_limited(small, Path::new("y.gz"), 16).unwrap();
    assert_eq!(out.len(), 16);
    // A gzip CSV file within its cap reads as before.
    let t = csv::parse_csv(
        bomb(b"1,2\n3,4\n", 0),
        Path::new("z.csv.gz"),
        &CsvOptions::default(),
    );
    assert_eq!(t.unwrap().features.rows, 2);
}

/// A small compressed file costs little memory, whatever it declares: the first allocation is
/// sized by what the stream can deliver, not by the cap (CSV) or the header (IDX).
#[test]
fn small_gzip_inputs_allocate_little() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let csv = bomb(b"1,2\n3,4\n", 0);
    let (r, peak) = peak_during(|| {
        array::maybe_gunzip_limited(
            csv,
            Path::new("a.csv.gz"),
            array::MAX_CSV_DECOMPRESSED_BYTES,
        )
    });
    assert_eq!(r.unwrap(), b"1,2\n3,4\n");
    assert!(peak < MB, "peak heap {peak} bytes for 8 bytes of CSV");
    // 50,000 images of 28 x 28 declared (39 MB), 10 bytes delivered: truncated, and cheap.
    let gz = bomb(&idx_header(&[50_000, 28, 28]), 10);
    let (r, peak) = peak_during(|| idx::parse_idx(gz, Path::new("short.idx.gz")));
    assert!(r.unwrap_err().to_string().contains("truncated"));
    assert!(peak < MB, "peak heap {peak} bytes for a 10-byte payload");
}
