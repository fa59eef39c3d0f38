#!/usr/bin/env bash
# Every test of `mib`, Rust and Python, on a fresh machine: installs the Fashion-MNIST files the
# integration tests read (Debian's dataset-fashion-mnist, when root can apt-get), runs the Rust
# suite with cargo-nextest, builds the Python package into a virtual environment (.venv, packages
# from PyPI) and runs its pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! [ -d /usr/share/datasets/fashion-mnist ]; then
  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) \
    || echo "warning: could not install dataset-fashion-mnist; tests that need it will say so"
fi
status=0
cargo nextest run --workspace --no-fail-fast || status=$?
# The Python package: a venv, the build and test tools, then a plain pip install of python/.
PY=${PYTHON:-python3}
# maturin (the build backend) is run from the venv's bin/
export PATH="$PWD/.venv/bin:$PATH"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "maturin>=1.9.4,<2" pytest numpy tqdm scikit-learn "dask[distributed]" onnxruntime onnx mudata anndata
.venv/bin/python -m pip install -q --no-build-isolation ./python
cargo build -q -p mib-cli
MIB_BIN="$PWD/target/debug/mib" .venv/bin/python -m pytest -q python/tests || status=$?
exit $status
