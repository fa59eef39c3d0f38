#!/usr/bin/env bash
# Runs `mib bench step` and the same step in PyTorch back to back, ROUNDS times alternating, and
# prints each round's ratio and a summary (median ratio; the machine's ceiling ratio).
#   scripts/bench_step.sh [batch=64] [threads=2] [steps=50] [rounds=3] [encoder=mlp]
# encoder conv: issue 22's conv MIB step on both sides (3x3 convolutions 32-64-128, strides 1-2-2,
# linear head; separable critic, InfoNCE), e.g. scripts/bench_step.sh 128 2 30 5 conv.
# Needs a release build (cargo build --release -p mib-cli; MIB=path picks another binary, e.g. an
# older build for an A/B) and a Python with torch (PYTHON=...).
# Shared machines are noisy: PyTorch's rate in particular moves by 20 % from one run to the next,
# so compare the median of several rounds, and `ratio_cpu` (CPU time per step), not one run.
set -euo pipefail
B=${1:-64}; T=${2:-2}; S=${3:-50}; R=${4:-3}; E=${5:-mlp}
PY=${PYTHON:-python3}
DIR=$(cd "$(dirname "$0")/.." && pwd)
MIB=${MIB:-$DIR/target/release/mib}
case "$E" in
  mlp) OPTS=() ;;
  conv) OPTS=(--encoder conv --critic separable --estimator infonce) ;;
  *) echo "encoder: mlp or conv, not $E" >&2; exit 2 ;;
esac
OURS=$(mktemp); ROUNDS=$(mktemp)
trap 'rm -f "$OURS" "$ROUNDS"' EXIT
for _ in $(seq "$R"); do
  "$MIB" bench step "${OPTS[@]}" --batch "$B" --threads "$T" --steps "$S" --json | tee "$OURS"
  "$PY" "$DIR/scripts/bench_step_torch.py" --encoder "$E" --batch "$B" --threads "$T" --steps "$S" --ours "$OURS" | tee -a "$ROUNDS"
done
"$PY" - "$ROUNDS" <<'PY'
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(k):
    v = [r[k] for r in rs if r.get(k) is not None]
    return statistics.median(v) if v else float("nan")
print(json.dumps(dict(
    rounds=len(rs), encoder=rs[0].get("encoder", "mlp"),
    ours_steps_per_s=med("ours_steps_per_s"), torch_steps_per_s=med("steps_per_s"),
    ratio_median=med("ratio"), ratio_min=min(r["ratio"] for r in rs), ratio_max=max(r["ratio"] for r in rs),
    ratio_cpu_median=med("ratio_cpu"), ratio_median_step_median=med("ratio_median_step"),
    ceiling_steps_per_s=med("ceiling_steps_per_s"),
    ceiling_ratio_median=med("ceiling_ratio"))))
PY
