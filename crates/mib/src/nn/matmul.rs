//! Matrix products on the `gemm` crate, row-major `f32`.
//!
//! Large products are split into two fixed halves (by output columns, or rows when the output is
//! narrow) that run side by side on the global rayon pool, each single-threaded inside `gemm`. The
//! split depends only on the shapes, never on the number of threads, so results are bit-identical
//! whatever the pool size (with one thread the halves simply run one after the other).

use gemm::Parallelism;
use std::cell::Cell;

thread_local! {
    static IN_GEMM: Cell<bool> = const { Cell::new(false) };
}

/// Whether the current thread is inside a `gemm` call made by this module. Lets a counting
/// allocator (see `tests/alloc.rs`) tell `gemm`'s own packing allocations from any others.
pub fn inside_gemm() -> bool {
    IN_GEMM.try_with(|c| c.get()).unwrap_or(false)
}

/// Products below this many multiply-adds run as one single-threaded call.
const SPLIT_MIN_MACS: usize = 1 << 19;

/// A raw pointer that may cross a `rayon::join` (the halves write disjoint parts of the output).
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: only used for disjoint halves of one output, each written by exactly one task.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// A strided read-only operand: element `(i, j)` is at `ptr + i * rs + j * cs`.
#[derive(Clone, Copy)]
struct Operand {
    ptr: SendPtr,
    rs: isize,
    cs: isize,
}

impl Operand {
    fn offset(self, rows: usize, cols: usize) -> Operand {
        // SAFETY: callers only offset within the operand's extent.
        let p = unsafe {
            self.ptr
                .get()
                .offset(rows as isize * self.rs + cols as isize * self.cs)
        };
        Operand {
            ptr: SendPtr(p),
            ..self
        }
    }
}

/// `dst (+)= lhs [m, k] * rhs [k, n]`, all strided; single-threaded.
///
/// # Safety
/// All pointers must be valid for the given shapes and strides; `dst` must not alias the operands.
unsafe fn gemm_one(
    m: usize,
    n: usize,
    k: usize,
    dst: Operand,
    accumulate: bool,
    lhs: Operand,
    rhs: Operand,
) {
    if m == 0 || n == 0 {
        return;
    }
    IN_GEMM.with(|c| c.set(true));
    gemm::gemm(
        m,
        n,
        k,
        dst.ptr.get(),
        dst.cs,
        dst.rs,
        accumulate,
        lhs.ptr.get() as *const f32,
        lhs.cs,
        lhs.rs,
        rhs.ptr.get() as *const f32,
        rhs.cs,
        rhs.rs,
        1.0,
        1.0,
        false,
        false,
        false,
        Parallelism::None,
    );
    IN_GEMM.with(|c| c.set(false));
}

/// How a product is divided between two tasks; a function of the shape alone.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Split {
    /// One single-threaded call.
    None,
    /// Output columns `..h` and `h..`.
    Cols(usize),
    /// Output rows `..h` and `h..`.
    Rows(usize),
}

fn split_plan(m: usize, n: usize, k: usize) -> Split {
    if m * n * k < SPLIT_MIN_MACS || (n < 32 && m < 32) {
        return Split::None;
    }
    // Splitting columns halves the packing of `rhs` (`k x n`) per task, splitting rows halves
    // that of `lhs` (`m x k`); with a short `k` both are cheap and rows balance better.
    let cols = n >= 32 && (m < 32 || (n >= m && k > 256));
    if cols {
        Split::Cols((n / 2).div_ceil(16) * 16)
    } else {
        Split::Rows((m / 2).div_ceil(16) * 16)
    }
}

/// `dst (+)= lhs * rhs`, split into two halves chosen from the shapes alone.
///
/// # Safety
/// As [`gemm_one`].
unsafe fn gemm_split(
    m: usize,
    n: usize,
    k: usize,
    dst: Operand,
    accumulate: bool,
    lhs: Operand,
    rhs: Operand,
) {
    match split_plan(m, n, k) {
        Split::None => gemm_one(m, n, k, dst, accumulate, lhs, rhs),
        Split::Cols(h) => {
            let (d2, r2) = (dst.offset(0, h), rhs.offset(0, h));
            rayon::join(
                || gemm_one(m, h, k, dst, accumulate, lhs, rhs),
                || gemm_one(m, n - h, k, d2, accumulate, lhs, r2),
            );
        }
        Split::Rows(h) => {
            let (d2, l2) = (dst.offset(h, 0), lhs.offset(h, 0));
            rayon::join(
                || gemm_one(h, n, k, dst, accumulate, lhs, rhs),
                || gemm_one(m - h, n, k, d2, accumulate, l2, rhs),
            );
        }
    }
}

/// `out = a * b + bias`, then ReLU when `relu`: a dense layer's forward pass. The bias and the
/// activation are applied by the task that computed each half of the product, while it is in
/// cache (same arithmetic as applying them afterwards).
///
/// # Shapes
/// `a`: `[m, k]`, `b`: `[k, n]`, `bias`: `[n]`, `out`: `[m, n]`, all row-major.
///
/// # Panics
/// When a slice is shorter than its shape.
#[allow(clippy::too_many_arguments)]
pub fn matmul_bias_act(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    bias: &[f32],
    m: usize,
    k: usize,
    n: usize,
    relu: bool,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && out.len() >= m * n && bias.len() >= n);
    let (dst, lhs, rhs) = (rw(out, n, 1), ro(a, k, 1), ro(b, n, 1));
    // SAFETY: lengths checked above; each task writes only its own rows x columns of `out`.
    let part = |r0: usize, r1: usize, c0: usize, c1: usize| unsafe {
        gemm_one(
            r1 - r0,
            c1 - c0,
            k,
            dst.offset(r0, c0),
            false,
            lhs.offset(r0, 0),
            rhs.offset(0, c0),
        );
        for i in r0..r1 {
            let row = std::slice::from_raw_parts_mut(dst.offset(i, c0).ptr.get(), c1 - c0);
            let bb = &bias[c0..c1];
            if relu {
                for (v, &b) in row.iter_mut().zip(bb) {
                    *v = (*v + b).max(0.0);
                }
            } else {
                for (v, &b) in row.iter_mut().zip(bb) {
                    *v += b;
                }
            }
        }
    };
    match split_plan(m, n, k) {
        Split::None => part(0, m, 0, n),
        Split::Cols(h) => {
            rayon::join(|| part(0, m, 0, h), || part(0, m, h, n));
        }
        Split::Rows(h) => {
            rayon::join(|| part(0, h, 0, n), || part(h, m, 0, n));
        }
    }
}

fn ro(s: &[f32], rs: usize, cs: usize) -> Operand {
    Operand {
        ptr: SendPtr(s.as_ptr() as *mut f32),
        rs: rs as isize,
        cs: cs as isize,
    }
}

fn rw(s: &mut [f32], rs: usize, cs: usize) -> Operand {
    Operand {
        ptr: SendPtr(s.as_mut_ptr()),
        rs: rs as isize,
        cs: cs as isize,
    }
}

/// `out (+)= a * b`.
///
/// # Shapes
/// `a`: `[m, k]`, `b`: `[k, n]`, `out`: `[m, n]`, all row-major. With `accumulate` the product is
/// added to `out`, otherwise `out` is overwritten.
///
/// # Panics
/// When a slice is shorter than its shape.
pub fn matmul(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && out.len() >= m * n);
    // SAFETY: lengths checked above; `out` is a distinct &mut borrow.
    unsafe { gemm_split(m, n, k, rw(out, n, 1), accumulate, ro(a, k, 1), ro(b, n, 1)) }
}

/// `out (+)= a^T * b` (the weight gradient `X^T dY`).
///
/// # Shapes
/// `a`: `[k, m]`, `b`: `[k, n]`, `out`: `[m, n]`, all row-major.
///
/// # Panics
/// When a slice is shorter than its shape.
pub fn matmul_tn(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    tn(out, a, b, m, k, n, accumulate, true)
}

/// `out (+)= a * b^T` (the input gradient `dY W^T`).
///
/// # Shapes
/// `a`: `[m, k]`, `b`: `[n, k]`, `out`: `[m, n]`, all row-major.
///
/// # Panics
/// When a slice is shorter than its shape.
pub fn matmul_nt(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && out.len() >= m * n);
    // SAFETY: lengths checked above.
    unsafe { gemm_split(m, n, k, rw(out, n, 1), accumulate, ro(a, k, 1), ro(b, 1, k)) }
}

/// `out^T (+)= a * b^T`, written column-major: `out` holds the `[m, n]` product as `[n, m]`
/// row-major (gemm is markedly faster writing this layout for the input-gradient shapes).
///
/// # Shapes
/// `a`: `[m, k]`, `b`: `[n, k]`, `out`: `[n, m]` row-major (the transpose of the product).
///
/// # Panics
/// When a slice is shorter than its shape.
pub fn matmul_nt_colmajor(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && out.len() >= m * n);
    // SAFETY: lengths checked above.
    unsafe { gemm_split(m, n, k, rw(out, 1, m), accumulate, ro(a, k, 1), ro(b, 1, k)) }
}

/// `out (+)= a * b^T` with `a` and `out` column-major: the input gradient `dX = dY W^T` computed
/// from the transposed output gradient, the layout in which `gemm` packs least.
///
/// # Shapes
/// `a`: `[m, k]` column-major (i.e. `[k, m]` row-major); `b`: `[n, k]` row-major; `out`: `[m, n]`
/// column-major (i.e. `[n, m]` row-major).
///
/// # Panics
/// When a slice is shorter than its shape.
pub fn matmul_cc_nt(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    cc_nt(out, a, b, m, k, n, accumulate, true)
}

/// [`matmul`] as one single-threaded product (for running beside other products, e.g. one per
/// item of a batch).
pub fn matmul_one(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && out.len() >= m * n);
    // SAFETY: lengths checked above; `out` is a distinct &mut borrow.
    unsafe { gemm_one(m, n, k, rw(out, n, 1), accumulate, ro(a, k, 1), ro(b, n, 1)) }
}

/// [`matmul_nt`] as one single-threaded product (for running beside other products).
pub fn matmul_nt_one(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && out.len() >= m * n);
    // SAFETY: lengths checked above.
    unsafe { gemm_one(m, n, k, rw(out, n, 1), accumulate, ro(a, k, 1), ro(b, 1, k)) }
}

/// [`matmul_tn`] as one single-threaded product (for running beside another product).
pub fn matmul_tn_one(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    tn(out, a, b, m, k, n, accumulate, false)
}

/// [`matmul_cc_nt`] as one single-threaded product (for running beside another product).
pub fn matmul_cc_nt_one(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    cc_nt(out, a, b, m, k, n, accumulate, false)
}

/// `dst (+)= lhs * rhs`, split in two halves or as one single-threaded call.
///
/// # Safety
/// As [`gemm_one`].
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_run(
    split: bool,
    m: usize,
    n: usize,
    k: usize,
    dst: Operand,
    accumulate: bool,
    lhs: Operand,
    rhs: Operand,
) {
    if split {
        gemm_split(m, n, k, dst, accumulate, lhs, rhs)
    } else {
        gemm_one(m, n, k, dst, accumulate, lhs, rhs)
    }
}

/// [`matmul_tn`], split or not.
#[allow(clippy::too_many_arguments)]
fn tn(out: &mut [f32], a: &[f32], b: &[f32], m: usize, k: usize, n: usize, acc: bool, split: bool) {
    assert!(a.len() >= m * k && b.len() >= k * n && out.len() >= m * n);
    // SAFETY: lengths checked above.
    unsafe { gemm_run(split, m, n, k, rw(out, n, 1), acc, ro(a, 1, m), ro(b, n, 1)) }
}

/// [`matmul_cc_nt`], split or not.
#[allow(clippy::too_many_arguments)]
fn cc_nt(
    out: &mut [f32],
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
    acc: bool,
    split: bool,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && out.len() >= m * n);
    // SAFETY: lengths checked above.
    unsafe { gemm_run(split, m, n, k, rw(out, 1, m), acc, ro(a, 1, m), ro(b, 1, k)) }
}

/// Transposes `src` (`[rows, cols]` row-major) into `dst` (`[cols, rows]` row-major), in tiles.
pub fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32]) {
    const T: usize = 32;
    for i0 in (0..rows).step_by(T) {
        for j0 in (0..cols).step_by(T) {
            for i in i0..(i0 + T).min(rows) {
                for j in j0..(j0 + T).min(cols) {
                    dst[j * rows + i] = src[i * cols + j];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut o = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    s += a[i * k + p] as f64 * b[p * n + j] as f64;
                }
                o[i * n + j] = s as f32;
            }
        }
        o
    }

    fn transpose(a: &[f32], r: usize, c: usize) -> Vec<f32> {
        let mut t = vec![0.0; r * c];
        for i in 0..r {
            for j in 0..c {
                t[j * r + i] = a[i * c + j];
            }
        }
        t
    }

    #[test]
    fn products_match_naive_loops() {
        for &(m, k, n) in &[
            (3, 5, 7),
            (130, 70, 96),
            (64, 200, 33),
            (200, 64, 20),
            (96, 300, 128),
        ] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0)
                .collect();
            let want = naive(&a, &b, m, k, n);
            let close = |got: &[f32]| {
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() < 1e-4 * (1.0 + w.abs()), "{g} vs {w}");
                }
            };
            let mut o = vec![0.0; m * n];
            matmul(&mut o, &a, &b, m, k, n, false);
            close(&o);
            let at = transpose(&a, m, k);
            matmul_tn(&mut o, &at, &b, m, k, n, false);
            close(&o);
            let bt = transpose(&b, k, n);
            matmul_nt(&mut o, &a, &bt, m, k, n, false);
            close(&o);
            matmul_nt_one(&mut o, &a, &bt, m, k, n, false);
            close(&o);
            matmul_one(&mut o, &a, &b, m, k, n, false);
            close(&o);
            let mut oc = vec![0.0; m * n];
            matmul_nt_colmajor(&mut oc, &a, &bt, m, k, n, false);
            close(&transpose(&oc, n, m));
            matmul_cc_nt(&mut oc, &at, &bt, m, k, n, false);
            close(&transpose(&oc, n, m));
            let mut t2 = vec![0.0; m * k];
            super::transpose(&a, m, k, &mut t2);
            assert_eq!(t2, at);
            let bias: Vec<f32> = (0..n).map(|j| (j as f32 - 10.0) / 7.0).collect();
            for relu in [false, true] {
                matmul_bias_act(&mut o, &a, &b, &bias, m, k, n, relu);
                for (idx, (g, w)) in o.iter().zip(&want).enumerate() {
                    let mut w = w + bias[idx % n];
                    if relu {
                        w = w.max(0.0);
                    }
                    assert!((g - w).abs() < 1e-4 * (1.0 + w.abs()), "{g} vs {w}");
                }
            }
            matmul(&mut o, &a, &b, m, k, n, false);
            // accumulate adds
            matmul(&mut o, &a, &b, m, k, n, true);
            for (g, w) in o.iter().zip(&want) {
                assert!((g - 2.0 * w).abs() < 2e-4 * (1.0 + w.abs()));
            }
        }
    }
}
