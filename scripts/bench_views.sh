#!/usr/bin/env bash
# Runs `mib bench views` and, when torch/torchvision import, scripts/bench_views_torch.py, then
# prints the ratio. Usage: scripts/bench_views.sh [python]   (default: python3; e.g. /work/pyenv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-python3}"
MIB="${MIB:-target/release/mib}"
[ -x "$MIB" ] || cargo build --release -p mib-cli
ours=$("$MIB" bench views --json --images 60000 --threads 1)
echo "mib:   $ours"
if "$PY" -c "import torch, torchvision" 2>/dev/null; then
  theirs=$("$PY" scripts/bench_views_torch.py --json)
  echo "torch: $theirs"
  "$PY" - "$ours" "$theirs" <<'PYEOF'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ours = o["views_per_sec_1thread"]
for k in ("pil", "tensor"):
    v = t[f"{k}_views_per_sec"]
    print(f"ratio vs torchvision {k} path (1 thread each): {ours / v:.1f}x  ({ours:.0f} vs {v:.0f} views/s)")
print(f"mib batch producer, 1 thread: {o['producer_views_per_sec']:.0f} views/s; "
      f"an epoch of Fashion-MNIST views (120,000) in {o['producer_epoch_seconds']:.2f} s")
PYEOF
else
  echo "torch/torchvision not importable with $PY: ratio not measured"
fi
