#!/usr/bin/env bash
# The GPU checks of issues 4 and 5 in one device-machine call (bench/README.md, "On a GPU").
#
#   device run: command="GPU_MILVUS_COMMIT=<sha of a clean main> bash bench/device_check.sh"
#               carry=[".whl"], timeout_s=560
#
# .whl holds the wheels the device image lacks, for Python 3.12: pymilvus, orjson, cachetools,
# snowballstemmer, tzdata, shapely, xxhash, jieba, datasketch, hypothesis (+ sortedcontainers, attrs),
# python-dotenv, pytest-asyncio, and pytest/pluggy/iniconfig at the versions pytest-asyncio
# needs (bench/README.md "On a GPU" has the download line; the set was tried on a plain 3.12
# venv holding the image's other packages). Each stage has its
# own time budget, so a hang in one still leaves the others' output; everything goes to
# $OUT/device_log.txt and the JSON records to $OUT (at most 8 files come back).
set -u
OUT=${OUT:-$(mktemp -d)}
LOG="$OUT/device_log.txt"
export PYTHONUNBUFFERED=1 CUPY_CACHE_DIR=/tmp/cupy-cache

stage() {  # stage SECONDS COMMAND...: run with a time limit, log its output and exit status
    local budget=$1
    shift
    echo "=== $(date -u +%H:%M:%S) $* (limit ${budget}s)" >>"$LOG"
    timeout "$budget" "$@" >>"$LOG" 2>&1
    echo "=== rc=$? after $SECONDS s in all" >>"$LOG"
}

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl >>"$LOG" 2>&1 || { echo "wheel install failed" >>"$LOG"; exit 1; }
export PYTHONPATH="/tmp/site:$PWD"

stage 20 nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
stage 30 python3 -c "import cupy, gpu_milvus; from gpu_milvus.engine.backend import gpu_available; \
print('cupy', cupy.__version__, 'gpu_available', gpu_available())"
# 1. the gpu test suite: every failure reported, short tracebacks
stage 150 python3 -m pytest -m gpu -q -p no:cacheprovider --tb=short --maxfail=25 tests/gpu
# 2. kernels against the ceilings: the quick record (the full sweep: FULL=1, a second call)
stage 100 python3 bench/gpu_bench.py --quick --reps 10 --nqs 1,8,32,1024,128 --budget-s 45 \
    --out "$OUT"
# 3. the client test suite with device="auto", i.e. on the GPU backend (no milvus-lite there:
#    its congruence tests skip)
stage 120 python3 -m pytest -q -p no:cacheprovider --tb=short --maxfail=25 tests/unit \
    --ignore=tests/unit/test_bench_suite.py --ignore=tests/unit/test_gpu_emulated.py
# 4. the scheduler on the GPU (issue 5: 1000 concurrent nq=1 vs one nq=1000 call)
stage 120 python3 bench/scheduler_bench.py --device cuda --rows 1000000 --dim 768 \
    --levels 1,16,256,1024 --min-seconds 1 --reps 3 --out "$OUT/scheduler_cuda.json"
# 5. what the records say of each path switch (bench/pick_switches.py; it changes no file)
for rec in "$OUT"/gpu_quick_*.json; do
    [ -e "$rec" ] && stage 30 python3 bench/pick_switches.py "$rec" "$OUT/scheduler_cuda.json"
done
if [ "${FULL:-0}" = 1 ]; then
    stage 400 python3 bench/gpu_bench.py --sizes 1000000,10000000 --reps 10 --budget-s 300 \
        --out "$OUT"
fi
echo "=== done after $SECONDS s" >>"$LOG"
