#!/usr/bin/env bash
# Times and scores `mib` against our PyTorch comparator (scripts/torch_reference.py) on the same data,
# the same recipe and the same iteration budget, one after the other in one invocation, and prints one
# table. End-to-end training time includes making the views (mib: its producer thread; PyTorch: a
# DataLoader with worker processes, as the authors' pipeline). Both probes: 1/10/100 labels per class,
# 10 draws (mib: its L-BFGS probe; PyTorch: scikit-learn saga, as the reference evaluation).
#
#   scripts/compare_torch.sh [ITERATIONS] [reference|fast|both]      (default 3000 both)
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
  preset=$([ "$r" = reference ] && echo mib || echo fast)
  batch=$([ "$r" = reference ] && echo 64 || grep -m1 '^batch_size' configs/fast.toml | awk '{print $3}')
  # PyTorch first, then mib, back to back.
  if [ ! -s "$OUT/torch-$r-$ITERS.json" ]; then
    echo "== PyTorch, $r recipe, $ITERS iterations, batch $batch" >&2
    "$PY" scripts/torch_reference.py --recipe "$r" --iterations "$ITERS" --batch "$batch" \
      --threads "$THREADS" --workers 2 --repetitions 10 > "$OUT/torch-$r-$ITERS.json.tmp"
    mv "$OUT/torch-$r-$ITERS.json.tmp" "$OUT/torch-$r-$ITERS.json"
  fi
  # mib through `mib experiment` (the beta schedule scaled to the budget as in the PyTorch script).
  spec="$OUT/mib-$r.toml"
  printf 'name = "compare-%s"\nbudget = %s\nlabels_per_class = [1, 10, 100]\nrepetitions = 10\n[set.eval]\nevery = 0\n[[arm]]\nname = "mib-%s"\npreset = "%s"\n' \
    "$r" "$ITERS" "$r" "$preset" > "$spec"
  echo "== mib, $r recipe ($preset preset), $ITERS iterations" >&2
  "$MIB" experiment -p "$spec" --out "$OUT" --threads "$THREADS" --quiet >&2
done
uptime | sed 's/^/load after: /'
"$PY" - "$OUT" "$ITERS" "${recipes[@]}" <<'PY'
import json, sys, os
out, iters, recipes = sys.argv[1], sys.argv[2], sys.argv[3:]
def acc(lp):
    return "  ".join(f"{p['mean']:.3f}+-{p['std']:.3f}" for p in lp)
print(f"| implementation | recipe | iterations | train s (end to end) | it/s | probe 1 / 10 / 100 labels per class |")
print("|---|---|---|---|---|---|")
for r in recipes:
    t = json.load(open(f"{out}/torch-{r}-{iters}.json"))
    print(f"| PyTorch {t['torch']} | {r} | {t['iterations']} | {t['train_s']:.0f} | {t['it_per_s']:.1f} | {acc(t['linear_probe'])} |")
    run = f"{out}/mib-{r}-{iters}it"
    m = [json.loads(l) for l in open(f"{run}/metrics.jsonl") if l.strip()][-1]
    e = json.load(open(f"{run}/eval.json"))
    print(f"| mib | {r} | {m['iteration']} | {m['wall_s']:.0f} | {m['iteration']/m['wall_s']:.1f} | {acc(e['linear_probe'])} |")
    print(f"| ratio | {r} | | PyTorch / mib = {t['train_s']/m['wall_s']:.2f}x | | |")
PY
