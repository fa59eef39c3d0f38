#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz / libFuzzer, AddressSanitizer, debug assertions on) of every
# reader of outside bytes: IDX raw and gzip, NPY, CSV, the training config TOML, the experiment
# TOML, checkpoint/model safetensors. Not run in CI.
#
#   scripts/fuzz.sh [EXECS] [TARGET...]
#
# EXECS: executions per target (default 1,000,000, libFuzzer's -runs), each target stopping
# earlier after MAX_TIME seconds (default 600; libFuzzer's -max_total_time). TARGETs: a subset of
# idx idx_gz npy npz csv train_config experiment checkpoint (default all), run one after another at
# nice 19. Corpora (fuzz/corpus/<target>, seeded from valid files on the first run) and crash
# inputs (fuzz/artifacts/<target>) stay out of git. Needs `cargo install cargo-fuzz`; stable Rust
# works through RUSTC_BOOTSTRAP=1. Prints one table row per target at the end (also written to
# fuzz/artifacts/summary.md).
set -euo pipefail

EXECS=${1:-1000000}
MAX_TIME=${MAX_TIME:-600}
shift || true
ALL=(idx idx_gz npy npz csv train_config experiment checkpoint)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUZZ="$ROOT/fuzz"
export RUSTC_BOOTSTRAP=1

max_len() {
    case $1 in
        idx|idx_gz|npz|checkpoint) echo 65536 ;;
        *) echo 8192 ;;
    esac
}

# Seed corpora from valid inputs of each format (only where a corpus is still empty).
seed() {
    local t=$1 dir="$FUZZ/corpus/$1"
    mkdir -p "$dir"
    [ -n "$(ls -A "$dir")" ] && return 0
    case $t in
        idx|idx_gz|npy|csv)
            python3 - "$t" "$dir" <<'PY'
import gzip, struct, sys
t, d = sys.argv[1], sys.argv[2]
def idx(ty, dims, payload):
    return bytes([0, 0, ty, len(dims)]) + b"".join(struct.pack(">I", x) for x in dims) + payload
def npy(descr, shape, payload, fortran=False):
    s = "(%s)" % (", ".join(map(str, shape)) + ("," if len(shape) == 1 else ""))
    h = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, s)
    h += " " * ((64 - (10 + len(h) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + payload
seeds = {
    "idx": [idx(8, [3, 2, 2], bytes(range(12))), idx(8, [4], bytes([1, 2, 3, 9])),
            idx(0x0D, [2, 2], struct.pack(">4f", 0.5, -1, 2, 3)), idx(0x0C, [3], struct.pack(">3i", 1, -2, 3)),
            idx(0x0E, [1, 2], struct.pack(">2d", 1.5, 2.5)), idx(0x0B, [2], struct.pack(">2h", 7, -7))],
}
seeds["idx_gz"] = [b"\x01" + s for s in seeds["idx"]] + [b"\x00" + gzip.compress(s)[2:] for s in seeds["idx"]]
seeds["npy"] = [npy("<f4", [2, 3], struct.pack("<6f", *range(6))), npy("|u1", [4], bytes([0, 1, 2, 3])),
                npy(">i8", [2, 2], struct.pack(">4q", 1, 2, 3, 4), True), npy("<f8", [3], struct.pack("<3d", 1, 2, 3)),
                npy("<i4", [2, 1, 2], struct.pack("<4i", 1, 2, 3, 4))]
csv = [b"a,b,label\n1,2.5,0\n-3,4e-2,1\n5,6,2\n", b"1,2,3\n4,5,6\n", b"x;y\n1;2\n"]
seeds["csv"] = [bytes([o]) + c for o in (0x00, 0x24, 0x51, 0x20) for c in csv] + [b"\x80" + csv[0]]
for i, s in enumerate(seeds[t]):
    open("%s/seed-%02d" % (d, i), "wb").write(s)
PY
            ;;
        npz) cp "$ROOT"/crates/mib/tests/data/views*.npz "$dir"/ ;;
        train_config) cp "$ROOT"/configs/*.toml "$dir"/ ;;
        experiment)
            cp "$ROOT"/configs/experiments/*.toml "$dir"/
            printf 'name = "x"\nbudget = 100\n[[arm]]\nname = "a"\npreset = "small"\n[[arm]]\nname = "raw"\nraw_view = 0\n' >"$dir/small.toml"
            ;;
        checkpoint)
            # A real checkpoint and final model of the architecture the target restores into.
            local tmp
            tmp=$(mktemp -d)
            cat >"$tmp/c.toml" <<'TOML'
seed = 1
[data]
dataset = "mfeat"
views = ["pix", "fou"]
pairing = { kind = "aligned" }
[model]
objective = "mib"
encoder_hidden = [8]
z_dim = 4
shared_encoder = false
critic_hidden = [8]
[train]
iterations = 20
batch_size = 8
log_every = 10
checkpoint_every = 10
TOML
            (cd "$ROOT" && cargo run -q -p mib-cli -- train -q --config "$tmp/c.toml" --out "$tmp/run" >/dev/null)
            cp "$tmp"/run/checkpoints/*.safetensors "$dir"/
            cp "$tmp/run/model.safetensors" "$dir/model.safetensors"
            rm -rf "$tmp"
            ;;
    esac
}

cd "$FUZZ"
nice -n 19 cargo fuzz build -a
mkdir -p artifacts
SUMMARY=artifacts/summary.md
echo "| target | executions | exec/s | wall s | crashes | ooms | timeouts | corpus |" >"$SUMMARY"
echo "|---|---|---|---|---|---|---|---|" >>"$SUMMARY"
for t in "${TARGETS[@]}"; do
    seed "$t"
    mkdir -p "artifacts/$t"
    log="artifacts/$t.log"
    start=$(date +%s)
    set +e
    nice -n 19 cargo fuzz run -a "$t" "corpus/$t" -- \
        -runs="$EXECS" -max_total_time="$MAX_TIME" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1
    rc=$?
    set -e
    wall=$(( $(date +%s) - start ))
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    n() { find "artifacts/$t" -name "$1-*" | wc -l; }
    corpus=$(find "corpus/$t" -type f | wc -l)
    row="| $t | ${execs:-?} | ${rate:-?} | $wall | $(n crash) | $(n oom) | $(n timeout) | $corpus |"
    [ $rc -ne 0 ] && row="$row exit $rc, see fuzz/$log"
    echo "$row" | tee -a "$SUMMARY"
done
echo
cat "$SUMMARY"
