#!/usr/bin/env bash
# The GPU checklist of docs/BENCHMARKS.md as one bounded script, for the day a GPU machine is lent.
#
# Here, once (fetches the two wheels the bare GPU machine lacks and copies the test material):
#     bash tools/gpu_check.sh --pack
# Then, in ONE device call (carry: .whl and .gpucheck; the whole run is bounded to 8 minutes):
#     bash tools/gpu_check.sh
# Results land in $OUT/results.tar.gz ($OUT: the device tool's folder; a temporary folder elsewhere):
# summary.txt, gpu.txt, install.log, one log per step, model_eager.json, model.json, video.json,
# live.json, live_off.json, train.json, video_stabilize.json. TensorRT itself cannot be checked
# there: its libraries come from NVIDIA's index (gigabytes), far over what a call can carry.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PACK=.gpucheck          # test material copied from ../shared/data (it does not travel by itself)
WHEELS=.whl             # PyAV and platformdirs for the GPU machine's Python 3.12
BUDGET_S=${GPU_CHECK_BUDGET_S:-480}

if [[ "${1:-}" == "--pack" ]]; then
  grep -qx '/.gpucheck/' .git/info/exclude 2>/dev/null || echo '/.gpucheck/' >> .git/info/exclude
  chmod -R u+w "$PACK" 2>/dev/null  # (the shared data's folders are read-only: so was the last copy)
  rm -rf "$PACK" && mkdir -p "$PACK" && cp -r --no-preserve=mode ../shared/data "$PACK/data" || exit 1
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$WHEELS" "av<19" platformdirs || exit 1
  du -ch "$WHEELS" "$PACK" | tail -1 | sed 's/total/to carry (the limit is 64 MiB with the working tree)/'
  exit 0
fi

# The device tool brings back at most 8 files from $OUT: the results are written to a work folder and
# packed into $OUT/results.tar.gz after every step (a run cut short keeps what it had).
DEST=${OUT:-$(mktemp -d)}
[[ -n "${OUT:-}" ]] || echo "results: $DEST/results.tar.gz" >&2
OUT=$(mktemp -d)
SITE= RUN_HOME=
# The work folders go at exit (each summary line packs $OUT into $DEST): a refused run left them.
trap 'rm -rf "$OUT" ${SITE:+"$SITE"} ${RUN_HOME:+"$RUN_HOME"}' EXIT
START=$SECONDS
summary() {
  echo "$*" | tee -a "$OUT/summary.txt"
  tar -czf "$DEST/results.tar.gz.part" -C "$OUT" . && mv "$DEST/results.tar.gz.part" "$DEST/results.tar.gz"
}

if ! python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  summary "error: no CUDA GPU is visible to PyTorch here; this check runs only on a GPU machine"
  exit 3
fi
if ! ls "$WHEELS"/av-*.whl >/dev/null 2>&1 || [[ ! -d "$PACK/data" ]]; then
  summary "error: run 'bash tools/gpu_check.sh --pack' first and carry $WHEELS and $PACK"
  exit 2
fi

SITE=$(mktemp -d)
# One install: a second one into the same --target keeps the first one's bin/ (no realtime-adain).
# (The machine's image has setuptools, tqdm, safetensors and Pillow; pip's words go to install.log.)
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir --target "$SITE" \
  "$WHEELS"/*.whl . > "$OUT/install.log" 2>&1 || { summary "error: installing the wheels and the project failed (install.log)"; exit 2; }
export PYTHONPATH=$SITE PATH=$SITE/bin:$PATH PYTHONUNBUFFERED=1 REALTIME_ADAIN_TEST_DATA=$REPO/$PACK/data
command -v realtime-adain >/dev/null || { summary "error: the realtime-adain command was not installed"; exit 2; }
RUN_HOME=$(mktemp -d)
export REALTIME_ADAIN_HOME=$RUN_HOME
DATA=$REPO/$PACK/data
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/gpu.txt" 2>&1
summary "device: $(head -1 "$OUT/gpu.txt"); torch $(python3 -c 'import torch; print(torch.__version__)'); $(date -u +%FT%TZ)"
summary "versions: $(python3 -c 'import importlib.metadata as m; print(", ".join(f"{n} {v}" for n in ("torch", "torchvision", "numpy", "av", "pillow", "triton", "opencv-python-headless", "opencv-python") if (v := next(iter(d.version for d in m.distributions(name=n)), None))))' 2>&1 | tail -1)"

# step NAME SECONDS COMMAND...: bounded by its own limit and by what is left of the budget.
step() {
  local name=$1 limit=$2; shift 2
  local left=$((BUDGET_S - (SECONDS - START)))
  ((limit > left)) && limit=$left
  if ((limit < 10)); then summary "$name: skipped (budget spent)"; return; fi
  local began=$SECONDS
  (cd "$SITE" && timeout -k 5 "$limit" "$@") > "$OUT/$name.log" 2>&1
  local rc=$?
  summary "$name: rc=$rc in $((SECONDS - began)) s$([[ $rc == 124 ]] && echo ' (timed out)')"
}

step gpu-tests 100 python3 -m pytest -m gpu -q -p no:cacheprovider --rootdir "$REPO" -c "$REPO/pyproject.toml" \
  "$REPO/tests/test_engines_gpu.py"
step bench-video 70 realtime-adain bench video --video "$DATA/videos/cutBunny.mp4" \
  --style "$DATA/style/brushstrokes.jpg" --resolution 1280x720 --device cuda --dtype fp16 --engine eager \
  --threads 0 --repeats 1 --batch 4 --json "$OUT/video.json"
step bench-video-stabilize 120 realtime-adain bench video --video "$DATA/videos/cutBunny.mp4" \
  --style "$DATA/style/brushstrokes.jpg" --resolution 1280x720 --device cuda --dtype fp16 --engine eager,compile \
  --threads 0 --repeats 1 --batch 4 --frames 120 --no-baseline --stabilize off,flow:1,flow:2 --json "$OUT/video_stabilize.json"
step bench-live 70 realtime-adain bench live --resolution 720p --seconds 10 --warmup 3 --device cuda --json "$OUT/live.json"
step bench-live-off 40 realtime-adain bench live --resolution 720p --seconds 10 --warmup 3 --device cuda --stabilize off --json "$OUT/live_off.json"
step bench-model-eager 60 realtime-adain bench model --engine eager -r 360p -r 720p -r 1080p \
  --iters 50 --json "$OUT/model_eager.json"
step bench-train 50 realtime-adain bench train --iterations 20 --warmup 5 --device cuda --json "$OUT/train.json"
# Last: compiling three shapes is the slowest step, and eager's figures above are kept if it runs out.
step bench-model 180 realtime-adain bench model --engine eager --engine compile -r 360p -r 720p -r 1080p \
  --iters 50 --json "$OUT/model.json"
summary "total: $((SECONDS - START)) s of a ${BUDGET_S} s budget"
