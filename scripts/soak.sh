#!/usr/bin/env bash
# Soak test of crash safety (not in CI): kills `mib train`, `mib train --resume` and
# `mib experiment` with SIGKILL at random moments, N times in all (default 50); one kill of
# `mib train` in three is a SIGTERM instead (a checkpoint at the stop iteration, most often between
# two log lines). The config checkpoints every 5 iterations and logs every 5, so many kills land
# inside checkpoint, metrics and final-model writes. After each kill the folder must resume (the
# next run may itself be killed); each round ends with an uninterrupted resume, whose
# metrics.jsonl lines (all fields but the timing ones, wall_s and it_per_s) and final model
# (tensors, and metadata but wall_s) must equal those of an uninterrupted reference run.
#
#   scripts/soak.sh [N]        (MIB=path/to/mib to use another binary; SOAK_DIR to keep files)
#
# A kill "landed in a write" when it left a temporary file of an atomic write behind
# (.<name>.tmp in the run or checkpoints folder) or a metrics line without its newline.
set -euo pipefail

N=${1:-50}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${SOAK_DIR:-$(mktemp -d /tmp/mib-soak.XXXXXX)}
mkdir -p "$DIR"
if [ -z "${MIB:-}" ]; then
    (cd "$ROOT" && nice -n 19 cargo build -q -p mib-cli)
    # A private copy: a shared target dir may be rebuilt from another checkout meanwhile.
    cp "${CARGO_TARGET_DIR:-$ROOT/target}/debug/mib" "$DIR/mib"
    MIB="$DIR/mib"
fi
echo "soak: $N kills with $MIB in $DIR"

cat >"$DIR/train.toml" <<'TOML'
seed = 5
[data]
dataset = "mfeat"
views = ["pix", "fou"]
pairing = { kind = "aligned" }
[model]
objective = "mib"
encoder_hidden = [64]
z_dim = 8
shared_encoder = false
critic_hidden = [64]
[beta]
kind = "exponential"
start = 1e-3
end = 1.0
start_iteration = 100
n_iterations = 200
[train]
iterations = 2000
batch_size = 32
threads = 1
log_every = 5
checkpoint_every = 5
keep_checkpoints = 2
[eval]
every = 0
TOML
cat >"$DIR/experiment.toml" <<TOML
name = "soak"
budget = 1000
labels_per_class = [1]
repetitions = 1
[[arm]]
name = "mib"
preset = "$DIR/train.toml"
[[arm]]
name = "infomax"
preset = "$DIR/train.toml"
[arm.set.model]
objective = "mv-infomax"
[arm.set.beta]
kind = "constant"
value = 0.0
TOML

# same_metrics A B: 0 when every metrics line agrees in every field but the timing ones.
same_metrics() {
    python3 - "$1" "$2" <<'PY'
import json, sys
TIMING = ("wall_s", "it_per_s")
def rows(p):
    return [{k: v for k, v in r.items() if k not in TIMING}
            for r in map(json.loads, open(p).read().splitlines())]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
if a != b:
    print("  mismatch: %d vs %d lines; first difference: %s"
          % (len(a), len(b), next(((x, y) for x, y in zip(a, b) if x != y), "length")))
    sys.exit(1)
PY
}

# same_model A B: 0 when two model.safetensors hold the same tensor bytes and the same metadata
# but the wall time.
same_model() {
    python3 - "$1" "$2" <<'PY'
import json, struct, sys
def parts(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    md = h.pop("__metadata__", {})
    meta = json.loads(md.pop("mib.checkpoint", "{}"))
    meta.pop("wall_s", None)
    return h, md, meta, b[8 + n:]
if parts(sys.argv[1]) != parts(sys.argv[2]):
    print("  model mismatch: %s vs %s" % (sys.argv[1], sys.argv[2]))
    sys.exit(1)
PY
}

in_write() { # RUN: did the last kill leave an atomic write's temp file or a torn metrics line?
    local run=$1
    if find "$run" -maxdepth 2 -name '.*.tmp' 2>/dev/null | grep -q .; then return 0; fi
    [ -s "$run/metrics.jsonl" ] && [ "$(tail -c1 "$run/metrics.jsonl" | od -An -c | tr -d ' ')" != '\n' ]
}

# Reference runs (uninterrupted).
start=$(date +%s.%N)
"$MIB" train -q --config "$DIR/train.toml" --out "$DIR/ref-train" >/dev/null 2>&1
T_TRAIN=$(python3 -c "import time; print(time.time() - $start)")
start=$(date +%s.%N)
"$MIB" experiment --quiet --threads 1 --preset "$DIR/experiment.toml" --out "$DIR/ref-exp" >/dev/null 2>&1
T_EXP=$(python3 -c "import time; print(time.time() - $start)")
echo "reference: train ${T_TRAIN}s, experiment ${T_EXP}s"

kills=0 before_config=0 in_writes=0 resumes_ok=0 resume_fail=0 mismatches=0 rounds=0 finished_early=0
sigterms=0
declare -A by_kind=([train]=0 [resume]=0 [experiment]=0)
rand_delay() { python3 -c "import random; print(random.uniform(0.05, 0.5 * $1))"; }

# run_killed KIND T CMD...: runs CMD, kills it with SIGKILL (for mib train, one time in three
# SIGTERM) after a random delay in (0.05, T/2) s. Returns 0 when it was killed, 1 when it finished
# first (status in $status).
run_killed() {
    local kind=$1 t=$2 sig=KILL
    shift 2
    if [ "$kind" != experiment ] && [ $((RANDOM % 3)) -eq 0 ]; then sig=TERM; fi
    "$@" >/dev/null 2>"$DIR/last.err" &
    local pid=$!
    sleep "$(rand_delay "$t")"
    if kill -"$sig" "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null || true
        [ "$sig" = TERM ] && sigterms=$((sigterms + 1))
        kills=$((kills + 1))
        by_kind[$kind]=$((by_kind[$kind] + 1))
        return 0
    fi
    set +e
    wait "$pid"
    status=$?
    set -e
    return 1
}

while [ "$kills" -lt "$N" ]; do
    rounds=$((rounds + 1))
    if [ $((rounds % 3)) -eq 0 ]; then
        # mib experiment: kill, rerun (it resumes every arm), ... then finish.
        out="$DIR/exp-$rounds"
        per=$((2 + RANDOM % 3))
        for ((k = 0; k < per && kills < N; k++)); do
            if run_killed experiment "$T_EXP" "$MIB" experiment --quiet --threads 1 --preset "$DIR/experiment.toml" --out "$out"; then
                for a in "$out"/*/; do in_write "$a" && { in_writes=$((in_writes + 1)); break; }; done
            elif [ "$status" -ne 0 ]; then
                resume_fail=$((resume_fail + 1)); echo "  experiment rerun failed: $(tail -1 "$DIR/last.err")"
            else
                finished_early=$((finished_early + 1)); break
            fi
        done
        if "$MIB" experiment --quiet --threads 1 --preset "$DIR/experiment.toml" --out "$out" >/dev/null 2>"$DIR/last.err"; then
            resumes_ok=$((resumes_ok + 1))
            for a in "$DIR"/ref-exp/*/; do
                name=$(basename "$a")
                same_metrics "$a/metrics.jsonl" "$out/$name/metrics.jsonl" || { mismatches=$((mismatches + 1)); echo "  round $rounds arm $name: metrics differ"; }
                same_model "$a/model.safetensors" "$out/$name/model.safetensors" || { mismatches=$((mismatches + 1)); echo "  round $rounds arm $name: models differ"; }
            done
        else
            resume_fail=$((resume_fail + 1)); echo "  round $rounds: final experiment run failed: $(tail -1 "$DIR/last.err")"
        fi
        continue
    fi
    # mib train, then --resume, each killed at random.
    run="$DIR/train-$rounds"
    per=$((2 + RANDOM % 4))
    kind=train
    for ((k = 0; k < per && kills < N; k++)); do
        if [ ! -f "$run/config.toml" ]; then
            cmd=("$MIB" train -q --config "$DIR/train.toml" --out "$run"); kind=train
        else
            cmd=("$MIB" train -q --resume "$run"); kind=resume
        fi
        if run_killed "$kind" "$T_TRAIN" "${cmd[@]}"; then
            in_write "$run" && in_writes=$((in_writes + 1))
            [ -f "$run/config.toml" ] || before_config=$((before_config + 1))
        elif [ "$status" -ne 0 ]; then
            resume_fail=$((resume_fail + 1)); echo "  $kind failed: $(tail -1 "$DIR/last.err")"
        else
            finished_early=$((finished_early + 1)); break
        fi
    done
    if [ ! -f "$run/config.toml" ]; then
        final=("$MIB" train -q --config "$DIR/train.toml" --out "$run")
    else
        final=("$MIB" train -q --resume "$run")
    fi
    if "${final[@]}" >/dev/null 2>"$DIR/last.err"; then
        resumes_ok=$((resumes_ok + 1))
        same_metrics "$DIR/ref-train/metrics.jsonl" "$run/metrics.jsonl" || { mismatches=$((mismatches + 1)); echo "  round $rounds: metrics differ"; }
        if [ -f "$run/model.safetensors" ]; then
            same_model "$DIR/ref-train/model.safetensors" "$run/model.safetensors" || { mismatches=$((mismatches + 1)); echo "  round $rounds: models differ"; }
        else
            mismatches=$((mismatches + 1)); echo "  round $rounds: no final model"
        fi
    else
        resume_fail=$((resume_fail + 1)); echo "  round $rounds: final resume failed: $(tail -1 "$DIR/last.err")"
    fi
done

echo
echo "kills: $kills (mib train: ${by_kind[train]}, mib train --resume: ${by_kind[resume]}, mib experiment: ${by_kind[experiment]}; SIGTERM: $sigterms)"
echo "kills that landed in a write (temp file or torn metrics line left): $in_writes"
echo "kills of mib train before it had written its config (nothing to resume; started afresh): $before_config"
echo "rounds: $rounds; finished before the kill: $finished_early"
echo "final resumes ok: $resumes_ok; runs that failed on their own: $resume_fail; metrics or model mismatches: $mismatches"
[ "$resume_fail" -eq 0 ] && [ "$mismatches" -eq 0 ]
