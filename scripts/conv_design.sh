#!/bin/bash
# Which conv design choices matter (issue 22): each variant changes one thing in the `fast-conv`
# preset and is trained and probed (mean and hidden representations, 1/2/5/10/100 labels per class,
# 10 draws) by scripts/representations.py.
#
#   scripts/conv_design.sh OUT [SEEDS] [VARIANTS]
#   scripts/conv_design.sh runs/conv-design 42 "base norm wide crop"
#
# Needs the release `mib` binary ($MIB_BIN, else target/release/mib) and python3.
set -euo pipefail
out=${1:?usage: scripts/conv_design.sh OUT [SEEDS] [VARIANTS]}
seeds=${2:-42}
variants=${3:-base norm wide narrow shallow nohidden crop pool pool-norm norm-wide}
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$root/.venv/bin/python}
[ -x "$py" ] || py=python3
mkdir -p "$out"
base="$root/configs/fast-conv.toml"
for v in $variants; do
  cfg="$out/$v.toml"
  case $v in
    base) cp "$base" "$cfg" ;;
    # a per-item norm over each convolution's output, before its ReLU
    norm) sed 's/^norm = false/norm = true/' "$base" >"$cfg" ;;
    # twice the channels (32, 64, 128)
    wide) sed 's/^channels = \[16, 32, 64\]/channels = [32, 64, 128]/' "$base" >"$cfg" ;;
    # norm and wide together
    norm-wide) sed -e 's/^norm = false/norm = true/' \
      -e 's/^channels = \[16, 32, 64\]/channels = [32, 64, 128]/' "$base" >"$cfg" ;;
    # global average pooling over the last conv's H x W (64 values) instead of flattening
    pool) sed 's/^# pool = "flatten"/pool = "mean"/' "$base" >"$cfg" ;;
    # pooled, with the norm
    pool-norm) sed -e 's/^# pool = "flatten"/pool = "mean"/' -e 's/^norm = false/norm = true/' \
      "$base" >"$cfg" ;;
    # half the channels (8, 16, 32)
    narrow) sed 's/^channels = \[16, 32, 64\]/channels = [8, 16, 32]/' "$base" >"$cfg" ;;
    # two convolutions (32, 64; 28 -> 14 -> 7), flattened 7 x 7 x 64
    shallow) sed -e 's/^channels = \[16, 32, 64\]/channels = [32, 64]/' \
      -e 's/^strides = \[2, 2, 2\]/strides = [2, 2]/' "$base" >"$cfg" ;;
    # four convolutions (16, 32, 64, 128; strides 1, 2, 2, 2)
    deep) sed -e 's/^channels = \[16, 32, 64\]/channels = [16, 32, 64, 128]/' \
      -e 's/^strides = \[2, 2, 2\]/strides = [1, 2, 2, 2]/' "$base" >"$cfg" ;;
    # the flattened convolutions straight into the Gaussian head (no dense hidden layer)
    nohidden) sed 's/^encoder_hidden = \[256\]/encoder_hidden = []/' "$base" >"$cfg" ;;
    # SimCLR's crop: random resized crop (area 0.3-1) + horizontal flip + the 20 % pixel dropout
    crop) awk '
      /^\[\[data.pairing.augment.steps\]\]/ && !done {
        print "[[data.pairing.augment.steps]]\nkind = \"random-resized-crop\"\nscale = [0.3, 1.0]\n";
        print "[[data.pairing.augment.steps]]\nkind = \"horizontal-flip\"\np = 0.5\n";
        skip = 1; done = 1; next }
      skip && /^\[\[data.pairing.augment.steps\]\]/ { skip = 0 }
      !skip { print }' "$base" >"$cfg" ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
  cmp -s "$cfg" "$base" && [ "$v" != base ] && { echo "variant $v changed nothing" >&2; exit 2; }
  "$py" "$root/scripts/representations.py" --preset "$cfg" --seeds "$seeds" \
    --representations mean,hidden --no-raw --out "$out/$v"
done
