#!/usr/bin/env bash
# Times and scores `mib` against our PyTorch comparator (scripts/torch_reference.py) on the same data,
# the same recipe and the same iteration budget, one after the other in one invocation, and prints one
# table. End-to-end training time includes making the views (mib: its producer thread; PyTorch: a
# DataLoader with worker processes, as the authors' pipeline). Both probes: 1/10/100 labels per class,
# 10 draws (mib: its L-BFGS probe; PyTorch: scikit-learn saga, as the reference evaluation).
#
#   scripts/compare_torch.sh [ITERATIONS] [reference|fast|both]      (default 3000 both)
#
# The reference recipe runs ITERATIONS iterations; the fast recipe runs $FAST_ITERS (default: the
# `iterations` of configs/fast.toml).
#
# Needs target/release/mib (cargo build --release) and a Python with torch, torchvision, scikit-learn
# ($PYTHON, default /work/pyenv/bin/python). Results go to ${OUT:-runs/compare-torch}/ (a run folder
# that exists is reused, never overwritten).
set -euo pipefail
ITERS=${1:-3000}
WHICH=${2:-both}
PY=${PYTHON:-/work/pyenv/bin/python}
OUT=${OUT:-runs/compare-torch}
MIB=${MIB:-target/release/mib}
THREADS=${THREADS:-2}
FAST_ITERS=${FAST_ITERS:-$(grep -m1 '^iterations' configs/fast.toml | awk '{print $3}')}
mkdir -p "$OUT"
uptime | sed 's/^/load before: /'
recipes=()
case "$WHICH" in
  reference) recipes=(reference) ;;
  fast) recipes=(fast) ;;
  both) recipes=(reference fast) ;;
  *) echo "unknown recipe set $WHICH" >&2; exit 2 ;;
esac
for r in "${recipes[@]}"; do
  preset=$([ "$r" = reference ] && echo mib || echo configs/fast.toml)
  it=$([ "$r" = reference ] && echo "$ITERS" || echo "$FAST_ITERS")
  batch=$([ "$r" = reference ] && echo 64 || grep -m1 '^batch_size' configs/fast.toml | awk '{print $3}')
  # PyTorch first, then mib, back to back.
  if [ ! -s "$OUT/torch-$r-$it.json" ]; then
    echo "== PyTorch, $r recipe, $it iterations, batch $batch" >&2
    "$PY" scripts/torch_reference.py --recipe "$r" --iterations "$it" --batch "$batch" \
      --threads "$THREADS" --workers 2 --repetitions 10 > "$OUT/torch-$r-$it.json.tmp"
    mv "$OUT/torch-$r-$it.json.tmp" "$OUT/torch-$r-$it.json"
  fi
  # mib through `mib experiment` (the beta schedule scaled to the budget as in the PyTorch script).
  spec="$OUT/mib-$r.toml"
  printf 'name = "compare-%s"\nbudget = %s\nlabels_per_class = [1, 10, 100]\nrepetitions = 10\n[set.eval]\nevery = 0\n[[arm]]\nname = "mib-%s"\npreset = "%s"\n' \
    "$r" "$it" "$r" "$preset" > "$spec"
  echo "== mib, $r recipe ($preset), $it iterations" >&2
  "$MIB" experiment -p "$spec" --out "$OUT" --threads "$THREADS" --quiet >&2
  # The same sklearn probe as the PyTorch side, on mib's posterior means.
  for split in train test; do
    [ -s "$OUT/mib-$r-${it}it/z-$split.npy" ] || \
      "$MIB" embed "$OUT/mib-$r-${it}it" --split $split --out "$OUT/mib-$r-${it}it/z-$split.npy" 2>/dev/null
  done
done
uptime | sed 's/^/load after: /'
"$PY" - "$OUT" "$ITERS" "$FAST_ITERS" "${recipes[@]}" <<'PY'
import json, sys, os
import numpy as np
sys.path.insert(0, "scripts")
from torch_reference import probe
out, ref_iters, fast_iters, recipes = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def acc(lp):
    return "  ".join(f"{p['mean']:.3f}+-{p['std']:.3f}" for p in lp)
print("| implementation | recipe | iterations | train s (end to end) | it/s | sklearn probe, 1 / 10 / 100 labels per class | mib probe |")
print("|---|---|---|---|---|---|---|")
for r in recipes:
    iters = ref_iters if r == "reference" else fast_iters
    t = json.load(open(f"{out}/torch-{r}-{iters}.json"))
    print(f"| PyTorch {t['torch']} | {r} | {t['iterations']} | {t['train_s']:.0f} | {t['it_per_s']:.1f} | {acc(t['linear_probe'])} | |")
    run = f"{out}/mib-{r}-{iters}it"
    m = [json.loads(l) for l in open(f"{run}/metrics.jsonl") if l.strip()][-1]
    e = json.load(open(f"{run}/eval.json"))
    ld = lambda n: np.load(f"{run}/{n}")
    sk = probe(ld("z-train.npy"), ld("z-train.labels.npy").astype(int), ld("z-test.npy"),
               ld("z-test.labels.npy").astype(int), [1, 10, 100], 10, 0)
    print(f"| mib | {r} | {m['iteration']} | {m['wall_s']:.0f} | {m['iteration']/m['wall_s']:.1f} | {acc(sk)} | {acc(e['linear_probe'])} |")
    print(f"| ratio | {r} | | PyTorch / mib = {t['train_s']/m['wall_s']:.2f}x | | | |")
PY
