#!/usr/bin/env bash
# Download the wheels the device image lacks (Python 3.12, manylinux x86_64) into .whl/ (git-ignored).
#
#   bash benchmarks/outcome/fetch_wheels.sh                # train + eval: what the device runs (~9 MiB)
#   bash benchmarks/outcome/fetch_wheels.sh --with-build   # also finsynth build's polars (+54 MB) and datasketch
#   bash benchmarks/outcome/fetch_wheels.sh --with-bnb     # also bitsandbytes 0.50.2 into .bnb/ (43 MB, its own
#                                                          # call: `python -m train bench` with 8-bit configs)
#
# On the device (see benchmarks/outcome/README.md), a call carrying `.whl` installs them with
#   python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
#   export PYTHONPATH=/tmp/site:$PWD
#
# The device image (nvidia-h200, 2026-11) has torch 2.11, transformers 5.17, accelerate, tokenizers,
# safetensors, huggingface-hub 1.33, numpy, scipy, pandas, pyarrow, jinja2, matplotlib, pyyaml, rich, tqdm,
# requests, xxhash, psutil, fsspec, attrs, typing-extensions (KINDS.md). What `python -m train
# sft|infer|convert-gguf` and `finsynth eval` import beyond that is below, pinned to the project venv's
# versions. The data variants are built here (`benchmarks/outcome.py --stage prepare`), so the device needs
# neither polars (54 MB, `finsynth build`'s report) nor datasketch. Not carried at all: bitsandbytes (the
# 0.5B runs use --quant none), openai and its httpx2 stack (only `generate`/`--relabel` import them).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=${PYTHON:-.venv/bin/python}
DEST=.whl
grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || grep -qxF '/.whl/' .gitignore || echo '/.whl/' >> .git/info/exclude

WHEELS=(
  # train: trl's SFTTrainer and its datasets stack
  trl==1.16.0
  datasets==5.2.0
  dill==0.4.1
  multiprocess==0.70.19
  peft==0.21.2          # the image has a peft of unknown version; carry the one trl and train/ are tested with
  gguf==0.19.0          # convert-gguf
  # finsynth (eval; the schema everywhere)
  pydantic==2.14.4
  pydantic-core==2.50.5
  annotated-types==0.8.0
  typing-inspection==0.4.5
  jsonlines==4.0.0
  rapidfuzz==3.14.6
)
if [ "${1:-}" = "--with-bnb" ]; then
  grep -qxF '/.bnb/' .git/info/exclude 2>/dev/null || echo '/.bnb/' >> .git/info/exclude
  mkdir -p .bnb
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_24_x86_64 -d .bnb bitsandbytes==0.50.2
  ls -l .bnb
  exit 0
fi
if [ "${1:-}" = "--with-build" ]; then
  # finsynth build on the device: polars-runtime-32 alone is ~54 MB, so these travel in a call of their own
  WHEELS+=(datasketch==2.0.0 polars==2.1.0 polars-runtime-32==2.1.0)
else
  rm -f "$DEST"/datasketch-*.whl "$DEST"/polars-*.whl "$DEST"/polars_runtime_32-*.whl
fi

mkdir -p "$DEST"
for spec in "${WHEELS[@]}"; do
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$DEST" "$spec"
done
# one version of each: a stale wheel of another version would stop the whole install on the device
for spec in "${WHEELS[@]}"; do
  name=${spec%%==*}; version=${spec##*==}; stem=${name//-/_}
  for f in "$DEST"/*.whl; do
    base=$(basename "$f"); fname=${base%%-*}
    if [ "${fname,,}" = "${stem,,}" ] && [[ "$base" != "${fname}-${version}-"* ]]; then rm -v "$f"; fi
  done
done
ls -l "$DEST"
du -cb "$DEST"/*.whl | tail -1 | awk '{printf "total %d bytes (%.1f MiB)\n", $1, $1/1048576}'
