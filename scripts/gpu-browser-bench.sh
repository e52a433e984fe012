#!/usr/bin/env bash
# Issue #16 on the GPU machine: Brix in headless Chromium (and wllama 3.8.1 in the same page, --peer wllama) against
# Brix in Node (Dawn) on the same files, assembled into browser-gpu-latest.json. Back-to-back device calls (the
# machine stays warm ~30 s after each; /tmp survives only while it does). Payloads are built here by
# scripts/gpu-browser-bench-prepare.sh, which prints the calls; run `../shared/tools/gpu-peer/slim.sh on` first.
#
#   call 1  carry .gpu-browser/a .gpu-b16/c1   bash scripts/gpu-browser-bench.sh node 2>&1 | tee $OUT/node.log
#           stage1 (loaders, node, Dawn, chromium part aa), make-model x3 (the flags of scripts/h200-bench.sh),
#           split into <= SPLIT_MIB parts (wllama reads files of at most 2 GB), Brix in Node on each (brixNode)
#   call 2  carry .gpu-browser/b .gpu-b16/c2   bash scripts/gpu-browser-bench.sh browser 2>&1 | tee $OUT/browser.log
#           chromium reassembled, the gpu-browser probe picks the flags that get the NVIDIA adapter, then
#           bench-browser --peer wllama on each model, as long as this call's time allows
#   call 3  carry nothing                      bash scripts/gpu-browser-bench.sh browser 2>&1 | tee $OUT/browser3.log
#           only when call 2 printed "NEXT CALL": the models it left
#
# Every call writes into $OUT: b16.tgz (every raw JSON and log so far, cumulative), browser-gpu-latest.json and
# browser-gpu-details.json (assembled from what exists; nulls for what does not), summary.txt. All are rewritten
# after each model, so a call cut at its limit still brings back what it finished.
# Env: MODELS (default "dense-olmoe-active olmoe-1b-7b dbrx-4l"), PROMPT_TOKENS 512, GEN_TOKENS 128, RUNS 3,
#      BUDGET_S (seconds one call may use, default 570), SPLIT_MIB (default 1536; 0: no split), NODE_PROBE (default 0:
#      stage1's Node Dawn probe is skipped), T_<model> (seconds given to one bench-browser run; see tmax below),
#      BENCH_DAWN_FEATURES (default allow_unsafe_apis, as the probe; empty: none), RETRY=1 (run models that failed),
#      NODE_F16=1 (also Brix in Node with vulkan_enable_f16_on_nvidia, raw only), ALLOW_SOFTWARE=1 (rehearsal: go
#      on without an NVIDIA adapter), CHROMIUM (a Chromium binary instead of the staged one), STAGE, MODELS_DIR,
#      B16_DIR, CHROME_ROOT (default /tmp/stage, /tmp/models, /tmp/b16, /tmp), GB (.gpu-browser), PL (.gpu-b16).
set -u
step=${1:?usage: gpu-browser-bench.sh node|browser|assemble}
T0=$(date +%s)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
O=${OUT:-/tmp/out}; S=${STAGE:-/tmp/stage}; M=${MODELS_DIR:-/tmp/models}; W=${B16_DIR:-/tmp/b16}; R=${CHROME_ROOT:-/tmp}
GB=$(realpath -m "${GB:-.gpu-browser}"); PL=$(realpath -m "${PL:-.gpu-b16}")
RES=$W/res; BUDGET=${BUDGET_S:-570}
MODELS=${MODELS:-dense-olmoe-active olmoe-1b-7b dbrx-4l}
# the JSON lists the models in the issue's order
[ "$MODELS" = "dense-olmoe-active olmoe-1b-7b dbrx-4l" ] && JMODELS="olmoe-1b-7b dense-olmoe-active dbrx-4l" || JMODELS=$MODELS
PT=${PROMPT_TOKENS:-512}; GT=${GEN_TOKENS:-128}; RUNS=${RUNS:-3}
mkdir -p "$O" "$S" "$M" "$RES"
export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
export VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-$VK_DRIVER_FILES}
export __EGL_VENDOR_LIBRARY_FILENAMES=${__EGL_VENDOR_LIBRARY_FILENAMES:-/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json}
export NCCL_NVLS_ENABLE=0
NODE=$S/node; [ -x "$NODE" ] || NODE=$(command -v node || echo "$S/node")

el() { echo $(( $(date +%s) - T0 )); }
say() { echo "[+$(el)s] $*"; }
left() { echo $(( BUDGET - $(el) )); }
# make-model flags per model: exactly scripts/h200-bench.sh's (so figures compare with 2026-11-28-h200-*.json)
flags_of() { case $1 in
  olmoe-1b-7b) echo "--preset olmoe-1b-7b --quant mixed-q4_k_m";;
  dense-olmoe-active) echo "--arch llama --layers 16 --embd 2048 --heads 16 --kv-heads 16 --ff 8192 --vocab 50304 --quant mixed-q4_k_m --seed 1";;
  dbrx-4l) echo "--preset dbrx --layers 4 --quant mixed-q4_k_m";;
  dbrx-8l) echo "--preset dbrx --layers 8 --quant mixed-q4_k_m";;
  tiny-olmoe) echo "--arch olmoe --layers 2 --embd 256 --heads 4 --ff 256 --experts 8 --experts-used 2 --vocab small --quant mixed-q4_k_m";;  # rehearsal
  tiny-llama) echo "--arch llama --layers 2 --embd 256 --heads 4 --ff 512 --vocab small --quant mixed-q4_k_m";;                           # rehearsal
  *) return 1;;
esac; }
# seconds one bench-browser run may take (Brix: fetch into IndexedDB + upload + warm-up + runs; then wllama likewise)
tmax() { local v; v=$(printenv "T_${1//-/_}") && { echo "$v"; return; }; case $1 in
  dense-olmoe-active) echo 180;; olmoe-1b-7b) echo 260;; dbrx-4l) echo 420;; *) echo 300;; esac; }
cli() { (cd "$S" && "$NODE" brix-cli.mjs "$@"); }
model_of() { cat "$W/model-$1.path" 2>/dev/null; }
assemble() {
  "$NODE" "$ROOT/scripts/gpu-browser-bench-assemble.mjs" "$RES" "$O/browser-gpu-latest.json" "$O/browser-gpu-details.json" $JMODELS > "$O/summary.txt" 2>&1
  cat "$O/summary.txt"; cp "$O/browser-gpu-latest.json" "$O/browser-gpu-details.json" "$RES/" 2>/dev/null
}
# everything raw so far, cumulative over calls, under 15 MB (one file back is at most 16 MiB)
pack() {
  for f in "$RES"/*.log; do [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 4000000 ] && truncate -s 4000000 "$f"; done
  tar czf "$O/b16.tgz" -C "$W" res 2>/dev/null
  if [ "$(stat -c %s "$O/b16.tgz")" -gt 15000000 ]; then tar czf "$O/b16.tgz" -C "$W" --exclude='*.log' res; fi
}
# make-model (and split) one model; its first file's path into $W/model-$1.path
make_one() {
  local m=$1 f t n first; f=$(flags_of "$m") || { echo "unknown model $m"; return 0; }
  [ -s "$W/model-$m.path" ] && [ -f "$(model_of "$m")" ] && { echo "$m: have $(model_of "$m")"; return 0; }
  t=$(date +%s); rm -rf "${M:?}/$m" "$M/$m.gguf"
  # shellcheck disable=SC2086
  cli make-model $f --out "$M/$m.gguf" > "$RES/make-$m.log" 2>&1 || { echo "make-model $m failed:"; tail -5 "$RES/make-$m.log"; return 0; }
  n=$(stat -c %s "$M/$m.gguf"); echo "made $m in $(( $(date +%s) - t )) s: $(( n >> 20 )) MiB"
  # wllama reads files of at most 2 GB: bigger ones are split (llama.cpp gguf-split parts; Brix reads them too)
  if awk -v n="$n" -v s="${SPLIT_MIB:-1536}" 'BEGIN {exit !(s > 0 && n > s * 1048576)}'; then
    t=$(date +%s)
    if cli split --model "$M/$m.gguf" --max-size "${SPLIT_MIB:-1536}" --out-dir "$M/$m" > "$RES/split-$m.log" 2>&1; then
      rm -f "$M/$m.gguf"; first=$(ls "$M/$m"/*-00001-of-*.gguf | head -1)
      echo "split $m in $(( $(date +%s) - t )) s: $(ls "$M/$m" | wc -l) parts"; echo "$first" > "$W/model-$m.path"; return 0
    fi
    echo "split $m failed, using the whole file:"; tail -3 "$RES/split-$m.log"
  fi
  echo "$M/$m.gguf" > "$W/model-$m.path"
}
# Brix in Node on model $1 (the same file and token counts as the browser runs): $RES/node-$1.json
node_bench() {
  local m=$1 f t; f=$(model_of "$m"); [ -n "$f" ] && [ -f "$f" ] || return 0
  [ -s "$RES/node-$m.json" ] && return 0
  [ "$(left)" -gt 150 ] || { echo "NEXT CALL: no time left for brixNode $m"; return 0; }
  t=$(date +%s)
  env -u LD_LIBRARY_PATH -u FONTCONFIG_PATH timeout 240 "$NODE" "$S/brix-cli.mjs" bench --model "$f" --prompt-tokens "$PT" --gen-tokens "$GT" --runs "$RUNS" --json > "$RES/node-$m.json" 2> "$RES/node-$m.err" \
    || { echo "brixNode $m failed (rc $?):"; tail -3 "$RES/node-$m.err"; }
  echo "brixNode $m: $(( $(date +%s) - t )) s"; grep -E '^(loaded|run )' "$RES/node-$m.err" | tail -4
  if [ "${NODE_F16:-0}" = 1 ] && [ "$(left)" -gt 150 ]; then
    env -u LD_LIBRARY_PATH -u FONTCONFIG_PATH BRIX_DAWN_FLAGS="enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia" timeout 240 "$NODE" "$S/brix-cli.mjs" bench --model "$f" \
      --prompt-tokens "$PT" --gen-tokens "$GT" --runs "$RUNS" --json > "$RES/node-f16-$m.json" 2> "$RES/node-f16-$m.err" || tail -3 "$RES/node-f16-$m.err"
  fi
  assemble > /dev/null; pack
}
finish() { assemble; pack; say "done ($step): $(ls "$O" | tr '\n' ' ')"; }

case $step in
node)
  say "stage1 (loaders, node, Dawn, chromium part aa)"
  [ -f "$GB/a/stage1.sh" ] || { echo "no $GB/a/stage1.sh: carry .gpu-browser/a"; exit 2; }
  [ -f "$PL/c1/brix-cli.mjs" ] || { echo "no $PL/c1/brix-cli.mjs: carry .gpu-b16/c1"; exit 2; }
  mkdir -p "$RES/stage1"
  OUT=$RES/stage1 NODE_PROBE=${NODE_PROBE:-0} bash "$GB/a/stage1.sh" "$GB" > "$RES/stage1.log" 2>&1; echo "stage1 rc=$?"; tail -5 "$RES/stage1.log"
  [ -x "$S/node" ] || { echo "stage1 left no $S/node"; cat "$RES/stage1.log"; finish; exit 1; }
  NODE=$S/node; cp "$PL/c1/brix-cli.mjs" "$S/"; cp "$PL/c1/commit.txt" "$RES/" 2>/dev/null; cat "$RES/commit.txt" 2>/dev/null
  (nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv) > "$RES/nvidia-smi.txt" 2>&1; cat "$RES/nvidia-smi.txt"
  timeout 60 "$NODE" "$S/brix-cli.mjs" gpu-info > "$RES/gpu-info.txt" 2>&1; head -8 "$RES/gpu-info.txt"
  say "make-model, the three at once (each one core), then split into <= ${SPLIT_MIB:-1536} MiB parts"
  for m in $MODELS; do make_one "$m" > "$RES/make-$m.txt" 2>&1 & done; wait
  for m in $MODELS; do cat "$RES/make-$m.txt"; done
  df -h "$M" | tail -1
  say "Brix in Node: bench --prompt-tokens $PT --gen-tokens $GT --runs $RUNS"
  for m in $MODELS; do node_bench "$m"; done
  finish
  ;;
browser)
  NODE=$S/node; [ -x "$NODE" ] || NODE=$(command -v node)
  [ -n "$(ls "$W"/model-*.path 2>/dev/null)" ] || { echo "no models in $W: the machine was not warm (call 1 must come right before)"; exit 2; }
  CHROME=${CHROMIUM:-$R/chromium}
  if [ ! -x "$CHROME" ]; then
    say "reassembling Chromium into $R (the parts of .gpu-browser/a and b)"
    [ -f "$S/parts.txt" ] || { echo "no $S/parts.txt: stage1 did not run on this machine"; exit 2; }
    for d in "$GB"/*/; do cp "$d"chromium.br.part-* "$d"*.tar.br "$S/" 2>/dev/null; done
    miss=$(cd "$S" && for p in $(cat parts.txt); do [ -f "$p" ] || echo "$p"; done)
    [ -z "$miss" ] || { echo "missing chromium parts: $miss (carry .gpu-browser/b)"; exit 2; }
    unbr() { "$NODE" -e 'const z=require("zlib");process.stdin.pipe(z.createBrotliDecompress({chunkSize:1<<21})).pipe(process.stdout)'; }
    (cd "$S" && cat $(cat parts.txt)) | unbr > "$R/chromium.tmp" && chmod +x "$R/chromium.tmp" && mv "$R/chromium.tmp" "$R/chromium" || { echo "chromium did not unpack"; exit 1; }
    unbr < "$S/swiftshader.tar.br" | tar x -C "$R"
    mkdir -p "$R/fonts" "$R/al2023"; unbr < "$S/fonts.tar.br" | tar x -C "$R/fonts"; unbr < "$S/al2023.tar.br" | tar x -C "$R/al2023"
  fi
  [ -z "${CHROMIUM:-}" ] && export LD_LIBRARY_PATH=$R/al2023/lib FONTCONFIG_PATH=$R/fonts
  export HOME=${B16_HOME:-/tmp}
  "$CHROME" --version > "$RES/chromium-version.txt" 2>&1; cat "$RES/chromium-version.txt" | head -2
  if [ ! -f "$W/page/index.html" ]; then
    [ -f "$PL/c2/page.tar.xz" ] || { echo "no $PL/c2/page.tar.xz: carry .gpu-b16/c2"; exit 2; }
    mkdir -p "$W/page" && tar xJf "$PL/c2/page.tar.xz" -C "$W/page"
  fi
  # --b16-run=PID (Chromium ignores unknown switches) marks the browsers this run starts, so that one left behind by
  # a killed run (its launcher gone) is found and ended by its process group before the next model
  reap() { local p; for p in $(pgrep -f -- "--b16-run=$$"); do kill -9 -- "-$p" 2>/dev/null || kill -9 "$p" 2>/dev/null; done; return 0; }
  base="--b16-run=$$ --no-sandbox --no-zygote --disable-dev-shm-usage --no-first-run --disable-gpu-sandbox --ignore-gpu-blocklist --enable-unsafe-webgpu --enable-webgpu-developer-features --enable-logging=stderr"
  gpu="--headless --use-vulkan=native --use-angle=vulkan --enable-features=Vulkan,WebGPUExperimentalFeatures"
  ang="--headless --use-vulkan=native --enable-features=Vulkan,WebGPUExperimentalFeatures --use-gl=angle --use-angle=swiftshader --enable-unsafe-swiftshader --use-webgpu-adapter=default"
  plain="--headless --enable-unsafe-swiftshader"
  if [ ! -f "$W/chromium-flags.txt" ]; then
    # the gpu-browser probe (adapter, features, limits, read bandwidth, dispatch cost): the first variant that
    # gets the NVIDIA adapter gives the bench its flags
    probedir=$GB/b; [ -f "$probedir/server.mjs" ] || probedir=$S
    cp "$probedir"/server.mjs "$probedir"/probe-core.mjs "$probedir"/probe.html "$W/" 2>/dev/null
    for v in vulkan angle-swiftshader; do
      case $v in vulkan) fl=$gpu;; angle-swiftshader) fl=$ang;; esac
      say "chromium probe $v"
      # shellcheck disable=SC2086
      (cd "$W" && PROBE_TIMEOUT_S=${PROBE_TIMEOUT_S:-90} timeout 110 "$NODE" server.mjs "$CHROME" "$RES/chrome-probe-$v.log" 1 $base --v=1 \
        --user-data-dir="$W/prof-$v" $fl --enable-dawn-features=allow_unsafe_apis) > "$RES/chromium-probe-$v.txt" 2>&1
      rc=$?; reap; echo "rc=$rc (0: NVIDIA adapter)"; grep '^RESULT' "$RES/chromium-probe-$v.txt" | head -c 1200; echo
      if [ $rc = 0 ]; then echo "$fl" > "$W/chromium-flags.txt"; break; fi
    done
    if [ -f "$W/chromium-flags.txt" ]; then   # what the f16 toggle adds there (features only, no benchmarks)
      say "chromium probe f16 (vulkan_enable_f16_on_nvidia)"
      # shellcheck disable=SC2086
      (cd "$W" && PROBE_TIMEOUT_S=40 timeout 60 "$NODE" server.mjs "$CHROME" "$RES/chrome-probe-f16.log" 0 $base \
        --user-data-dir="$W/prof-f16" $(cat "$W/chromium-flags.txt") --enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia) > "$RES/chromium-probe-f16.txt" 2>&1
      echo "rc=$?"; reap; grep -o '"features":\[[^]]*\]' "$RES/chromium-probe-f16.txt" | head -1 | cut -c1-400
    fi
    grep -aihE 'webgpu|dawn|vulkan|nvidia|gpu process' "$RES"/chrome-probe-*.log 2>/dev/null | grep -av 'FontCache\|dbus' | head -40 | cut -c1-300 > "$RES/chrome-log-excerpt.txt"
    if [ ! -f "$W/chromium-flags.txt" ]; then
      if [ "${ALLOW_SOFTWARE:-0}" = 1 ]; then echo "no NVIDIA adapter; ALLOW_SOFTWARE=1: going on with '$plain'"; echo "$plain" > "$W/chromium-flags.txt"
      else echo "no NVIDIA adapter in Chromium: see chrome-log-excerpt.txt (in b16.tgz)"; head -30 "$RES/chrome-log-excerpt.txt"; finish; exit 1; fi
    fi
  fi
  good=$(cat "$W/chromium-flags.txt")
  dawnf=${BENCH_DAWN_FEATURES-allow_unsafe_apis}; [ -n "$dawnf" ] && good="$good --enable-dawn-features=$dawnf"
  echo "$base $good" > "$RES/chromium-flags.txt"; echo "bench flags: $base $good"
  next=""
  for m in $MODELS; do
    f=$(model_of "$m"); [ -n "$f" ] && [ -f "$f" ] || { echo "$m: no model file (call 1 made them)"; continue; }
    if [ -s "$RES/browser-$m.json" ] || { [ -f "$RES/browser-$m.err" ] && [ "${RETRY:-0}" != 1 ]; }; then echo "$m: done in an earlier call"; continue; fi
    T=$(tmax "$m")
    if [ "$(left)" -lt "$T" ]; then echo "$m needs ${T} s, $(left) s left in this call"; next="$next $m"; continue; fi
    say "bench-browser $m (at most $T s): $f"
    t=$(date +%s)
    timeout "$T" "$NODE" "$S/brix-cli.mjs" bench-browser --model "$f" --page-dir "$W/page" --chromium "$CHROME" --chromium-flags "$base $good" \
      --chromium-log "$RES/chrome-bench-$m.log" --peer wllama --prompt-tokens "$PT" --gen-tokens "$GT" --runs "$RUNS" --timeout $(( T - 15 )) --json \
      > "$RES/browser-$m.json.tmp" 2> "$RES/browser-$m.err"
    rc=$?; reap; [ -s "$RES/browser-$m.json.tmp" ] && mv "$RES/browser-$m.json.tmp" "$RES/browser-$m.json" || rm -f "$RES/browser-$m.json.tmp"
    echo "bench-browser $m: rc=$rc, $(( $(date +%s) - t )) s"; grep -vE '^\[browser (warning|error)\]' "$RES/browser-$m.err" | tail -12 | cut -c1-300
    assemble > /dev/null; pack
  done
  for m in $MODELS; do node_bench "$m"; done      # brixNode runs call 1 had no time for
  finish
  if [ -n "$next" ]; then echo "NEXT CALL (issue it right away, carrying nothing): bash scripts/gpu-browser-bench.sh browser   (left:$next)"; fi
  ;;
peer)
  # Issues 14/15: llama.cpp's Vulkan build (../shared/tools/gpu-peer, carried as .gpu/peer) beside Brix in Node with the
  # app's default arithmetic (Auto = int8 on a GPU for these Q4_K mixes) on the same files, the four shapes of
  # gpu-peer-latest.json (dbrx-8l made here). Needs call 1 (stage1's loaders and node, the models) on this machine.
  # PEER_MODELS, PEER_RUNS (Brix runs; llama.cpp: 4 runs, the first cold and dropped).
  # Without call 1 on this machine: .gpu alone (gpu-prepare.sh + the bundled CLI at .gpu/brix-cli.mjs) stages node,
  # Dawn and the loaders, and the models are made here.
  if [ ! -x "$S/node" ] && [ -f "$ROOT/.gpu/run.sh" ] && [ -f "$ROOT/.gpu/brix-cli.mjs" ]; then
    say "staging from .gpu (no call 1 on this machine)"
    bash "$ROOT/.gpu/run.sh" -e 0 || { echo ".gpu/run.sh failed"; exit 2; }
    mkdir -p "$S" && ln -sf /tmp/gpu-node "$S/node" && cp "$ROOT/.gpu/brix-cli.mjs" "$S/" && ln -sfn "$ROOT/.gpu/node_modules" "$S/node_modules"
    cp "$ROOT/.gpu/commit.txt" "$RES/" 2>/dev/null || git -C "$ROOT" rev-parse HEAD > "$RES/commit.txt" 2>/dev/null || true
    (cd "$S" && timeout 60 ./node brix-cli.mjs gpu-info) > "$RES/gpu-info.txt" 2>&1; head -3 "$RES/gpu-info.txt"
    PEER_DIR=${PEER_DIR:-$ROOT/.gpu/peer}
  fi
  NODE=$S/node; [ -x "$NODE" ] || { echo "no $S/node: call 1 must come right before (or carry .gpu with brix-cli.mjs)"; exit 2; }
  PP=$(realpath -m "${PEER_DIR:-.gpu/peer}"); [ -f "$PP/peer-nm.tar.xz" ] || { echo "no $PP/peer-nm.tar.xz: carry .gpu/peer"; exit 2; }
  [ -f /tmp/peer/node_modules/node-llama-cpp/package.json ] || { mkdir -p /tmp/peer && tar -C /tmp/peer -xJf "$PP/peer-nm.tar.xz"; }
  cp "$PP/peer-bench.mjs" /tmp/peer/
  PM=${PEER_MODELS:-olmoe-1b-7b dense-olmoe-active dbrx-4l dbrx-8l}
  say "make-model (those not made yet, at once)"
  for m in $PM; do [ -s "$W/model-$m.path" ] || { SPLIT_MIB=0 make_one "$m" > "$RES/make-$m.txt" 2>&1 & }; done; wait
  for m in $PM; do cat "$RES/make-$m.txt" 2>/dev/null; done
  for m in $PM; do
    f=$(model_of "$m"); [ -n "$f" ] && [ -f "$f" ] || { echo "$m: no model file"; continue; }
    [ "$(left)" -gt 120 ] || { echo "NEXT CALL: no time left for $m"; break; }
    if [ ! -s "$RES/peer-brix-$m.json" ]; then
      say "Brix (int8) $m"
      env -u LD_LIBRARY_PATH -u FONTCONFIG_PATH timeout 200 "$NODE" "$S/brix-cli.mjs" bench --model "$f" --prompt-tokens "$PT" --gen-tokens "$GT" --runs "${PEER_RUNS:-5}" \
        --activations int8 --json > "$RES/peer-brix-$m.json" 2> "$RES/peer-brix-$m.err" || { echo "rc $?"; tail -3 "$RES/peer-brix-$m.err"; }
    fi
    if [ ! -s "$RES/llamacpp-$m.jsonl" ]; then
      say "llama.cpp Vulkan $m"
      (cd /tmp/peer && env -u LD_LIBRARY_PATH -u FONTCONFIG_PATH timeout 200 "$NODE" peer-bench.mjs "$f" vulkan "$PT" "$GT") > "$RES/llamacpp-$m.jsonl" 2> "$RES/llamacpp-$m.err" \
        || { echo "rc $?"; tail -3 "$RES/llamacpp-$m.err"; }
      tail -1 "$RES/llamacpp-$m.jsonl" | cut -c1-300
    fi
    "$NODE" "$ROOT/scripts/gpu-peer-assemble.mjs" "$RES" "$O/gpu-peer-latest.json" $PM; pack
  done
  say "done (peer)"
  ;;
assemble) NODE=$(command -v node || echo "$S/node"); assemble ;;
*) echo "unknown step $step (node|browser|peer|assemble)" >&2; exit 2 ;;
esac
