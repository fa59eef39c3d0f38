#!/bin/bash
# The paper's schedule on Fashion-MNIST: MIB and MV-InfoMax with the reference recipe for the full
# 150,000 iterations of configs/mib.toml (docs/results.md section 1). 40-70 minutes each on 2 cores.
# Resumable: run it again and it continues each unfinished run from its newest checkpoint.
#
#   scripts/reference_150k.sh [OUT]          (default runs/reference-150k; needs target/release/mib)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-runs/reference-150k}
mib=${MIB:-$root/target/release/mib}
mkdir -p "$out"
for c in mib mv-infomax; do
  run="$out/$c"
  if [ -f "$run/model.safetensors" ]; then echo "$c: done"; continue; fi
  # every 10,000 iterations a checkpoint, all kept: the accuracy-vs-iteration curve can be re-evaluated
  sed -e 's/^keep_checkpoints = .*/keep_checkpoints = 16/' -e 's/^checkpoint_every = .*/checkpoint_every = 10000/' \
    "$root/configs/$c.toml" > "$out/$c-150k.toml"
  if [ -f "$run/config.toml" ]; then
    "$mib" train --resume "$run" --quiet 2>&1 | tee -a "$out/$c.log"
  else
    "$mib" train --config "$out/$c-150k.toml" --out "$run" --quiet 2>&1 | tee -a "$out/$c.log"
  fi
  "$mib" eval "$run" --labels-per-class 1,10,100 --repetitions 10 --json --out "$run/eval.json" > /dev/null
done
