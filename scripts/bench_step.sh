#!/usr/bin/env bash
# Runs `mib bench step` and the same step in PyTorch, and prints the ratio.
#   scripts/bench_step.sh [batch=64] [threads=2] [steps=50]
# Needs a release build (cargo build --release -p mib-cli) and a Python with torch (PYTHON=...).
set -euo pipefail
B=${1:-64}; T=${2:-2}; S=${3:-50}
PY=${PYTHON:-python3}
DIR=$(cd "$(dirname "$0")/.." && pwd)
OURS=$(mktemp)
"$DIR/target/release/mib" bench step --batch "$B" --threads "$T" --steps "$S" --json | tee "$OURS"
"$PY" "$DIR/scripts/bench_step_torch.py" --batch "$B" --threads "$T" --steps "$S" --ours "$OURS"
rm -f "$OURS"
