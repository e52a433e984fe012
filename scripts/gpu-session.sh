#!/usr/bin/env bash
# One GPU-machine session for issues #14-#16, over back-to-back device calls (the machine stays warm ~30 s
# after each; /tmp survives only while it does). The payloads are built here by scripts/gpu-session-prepare.sh.
#   call 1  bash <c1>/gpu-session.sh node <c1>      loaders, node, Dawn; Node Dawn probe; make-model x4; Brix
#                                                    bench f32 + int8 x4 (brixNode); TTFT of a 2,048-token prompt
#   call 2  bash <c2>/gpu-session.sh peer <c2>      llama.cpp's Vulkan build (gpu-peer) on the same 4 files; stage
#                                                    chromium part 1
#   call 3  bash <c3>/gpu-session.sh stage <c3>     stage chromium part 2 and its tars
#   call 4  bash <c4>/gpu-session.sh browser <c4>   unpack Chromium; the gpu-browser probe; bench:browser (Brix and
#                                                    --peer wllama) on olmoe, dense, dbrx-4l
# Each call writes $OUT/<step>.tgz (raw JSON and logs) and prints a summary.
set -u
step=$1; P=$(cd "$2" && pwd); O=${OUT:-/tmp/out}; S=/tmp/stage; M=/tmp/models; R=/tmp/res/$step
mkdir -p $S $M $R $O
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json VK_ICD_FILENAMES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
export NCCL_NVLS_ENABLE=0
cli() { (cd $S && ./node brix-cli.mjs "$@"); }
pack() { tar czf $O/$step.tgz -C /tmp/res $step; ls -la $O; }
trap pack EXIT
summary() { $S/node -e 'for (const f of process.argv.slice(1)) { try { const r=JSON.parse(require("fs").readFileSync(f,"utf8")); console.log(f.split("/").pop(), "prefill", r.prefillTokensPerSecond.median.toFixed(1), "decode", r.decodeTokensPerSecond.median.toFixed(1), "[", r.decodeTokensPerSecond.min.toFixed(1), r.decodeTokensPerSecond.max.toFixed(1), "] ttft", r.timeToFirstTokenMs.median.toFixed(1), "ms", r.peer ? JSON.stringify(r.peer).slice(0,400) : ""); } catch (e) { console.log(f, "unreadable", String(e).slice(0,200)); } }' "$@"; }
# name → make-model flags (scripts/h200-bench.sh)
flags_of() { case $1 in
  olmoe-1b-7b) echo "--preset olmoe-1b-7b --quant mixed-q4_k_m";;
  dense-olmoe-active) echo "--arch llama --layers 16 --embd 2048 --heads 16 --kv-heads 16 --ff 8192 --vocab 50304 --quant mixed-q4_k_m --seed 1";;
  dbrx-4l) echo "--preset dbrx --layers 4 --quant mixed-q4_k_m";;
  dbrx-8l) echo "--preset dbrx --layers 8 --quant mixed-q4_k_m";;
esac; }
MODELS="olmoe-1b-7b dense-olmoe-active dbrx-4l dbrx-8l"
case $step in
node)
  for f in $P/gl/*.deb; do dpkg -x $f /; done; ldconfig
  xz -dc $P/node.xz > $S/node && chmod +x $S/node
  rm -rf $S/node_modules && cp -r $P/node_modules $S/ && xz -df $S/node_modules/webgpu/dist/linux-x64/dawn.node.xz
  cp $P/brix-cli.mjs $P/*probe*.mjs $S/
  nvidia-smi -L | tee $R/nvidia-smi.txt; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >> $R/nvidia-smi.txt
  cat $P/commit.txt 2>/dev/null | tee $R/commit.txt
  timeout 60 $S/node $S/brix-cli.mjs gpu-info 2>&1 | tee $R/gpu-info.txt | head -20
  probe() { echo "== node-dawn $*"; (cd $S && timeout 150 ./node node-probe.mjs "$@") > /tmp/np.json 2> /tmp/np.err; echo "rc=$?";
    cat /tmp/np.json >> $R/node-probe.jsonl; grep -v '^\[progress\]' /tmp/np.err | head -c 600 >> $R/node-probe.err; head -c 700 /tmp/np.json; echo; }
  mkdir -p $S/gl && cp $P/gl/*.deb $S/gl/
  probe '[]'
  probe '["enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia"]' --bench
  probe '["adapter=__list_adapters__"]'
  for m in $MODELS; do t0=$(date +%s); cli make-model $(flags_of $m) --out $M/$m.gguf 2>&1 | tail -1; echo "made $m in $(( $(date +%s)-t0 )) s, $(du -h $M/$m.gguf | cut -f1)"; done
  for act in f32 int8; do for m in $MODELS; do
    timeout 240 bash -c "cd $S && ./node brix-cli.mjs bench --model $M/$m.gguf --prompt-tokens 512 --gen-tokens 128 --runs 5 --activations $act --json" > $R/brix-$m-$act.json 2> $R/brix-$m-$act.err || tail -3 $R/brix-$m-$act.err
    summary $R/brix-$m-$act.json
  done; done
  for m in olmoe-1b-7b dbrx-4l; do
    timeout 180 bash -c "cd $S && ./node brix-cli.mjs bench --model $M/$m.gguf --prompt-tokens 2048 --gen-tokens 16 --runs 3 --activations f32 --json" > $R/brix-$m-f32-ttft2048.json 2> $R/brix-$m-ttft.err || tail -3 $R/brix-$m-ttft.err
    summary $R/brix-$m-f32-ttft2048.json
  done
  ;;
peer1)
  # One call instead of node + peer (a fresh machine): node, the four models, llama.cpp on them.
  for f in $P/gl/*.deb; do dpkg -x $f /; done; ldconfig
  xz -dc $P/node.xz > $S/node && chmod +x $S/node; cp $P/brix-cli.mjs $S/; mkdir -p $S/gl && cp $P/gl/*.deb $S/gl/
  nvidia-smi -L | tee $R/nvidia-smi.txt
  for m in $MODELS; do cli make-model $(flags_of $m) --out $M/$m.gguf 2>&1 | tail -1; done
  ;&
peer)
  cp $P/chromium.br.part-* $S/ 2>/dev/null
  mkdir -p /tmp/peerpl/.gpu && cp -r $P/peer $S/gl /tmp/peerpl/.gpu/ && ln -sf $S/node /tmp/gpu-node
  for m in $MODELS; do
    timeout 200 bash /tmp/peerpl/.gpu/peer/run-peer.sh $M/$m.gguf vulkan 512 128 > $R/llamacpp-$m.jsonl 2> $R/llamacpp-$m.err || tail -3 $R/llamacpp-$m.err
    tail -4 $R/llamacpp-$m.jsonl | cut -c1-300
  done
  ;;
stage)
  cp $P/chromium.br.part-* $P/*.tar.br $S/ 2>/dev/null; ls $S
  ;;
browser)
  cp $P/chromium.br.part-* $P/*.tar.br $S/ 2>/dev/null
  cp $P/stage2.sh $P/server.mjs $P/probe.html $P/probe-core.mjs $S/ 2>/dev/null
  unbr() { $S/node -e 'const z=require("zlib");process.stdin.pipe(z.createBrotliDecompress({chunkSize:1<<21})).pipe(process.stdout)'; }
  (cd $S && cat $(ls chromium.br.part-* | sort)) | unbr > /tmp/chromium && chmod +x /tmp/chromium
  unbr < $S/swiftshader.tar.br | tar x -C /tmp; mkdir -p /tmp/fonts /tmp/al2023
  unbr < $S/fonts.tar.br | tar x -C /tmp/fonts; unbr < $S/al2023.tar.br | tar x -C /tmp/al2023
  export LD_LIBRARY_PATH=/tmp/al2023/lib FONTCONFIG_PATH=/tmp/fonts HOME=/tmp
  /tmp/chromium --version 2>&1 | head -2 | tee $R/chromium-version.txt
  base="--no-sandbox --no-zygote --disable-dev-shm-usage --no-first-run --disable-gpu-sandbox --ignore-gpu-blocklist --enable-unsafe-webgpu --enable-webgpu-developer-features --enable-logging=stderr"
  gpu="--headless --use-vulkan=native --use-angle=vulkan --enable-features=Vulkan,WebGPUExperimentalFeatures --enable-dawn-features=allow_unsafe_apis"
  ang="--headless --use-vulkan=native --enable-features=Vulkan,WebGPUExperimentalFeatures --use-gl=angle --use-angle=swiftshader --enable-unsafe-swiftshader --use-webgpu-adapter=default --enable-dawn-features=allow_unsafe_apis"
  probe() { local name=$1; shift; echo "== chromium probe $name"
    (cd $S && PROBE_TIMEOUT_S=90 timeout 120 ./node server.mjs /tmp/chromium $R/chrome-$name.log 1 $base --v=1 --user-data-dir=/tmp/prof-$name "$@") > $R/chromium-$name.txt 2>&1
    local rc=$?; echo "rc=$rc"; grep '^RESULT' $R/chromium-$name.txt | head -c 1500; echo; return $rc; }
  good=""
  if probe vulkan $gpu; then good="$gpu"; elif probe angle-swiftshader $ang; then good="$ang"; fi
  grep -aiE 'webgpu|dawn|vulkan|nvidia|gpu process' $R/chrome-*.log | grep -av 'FontCache\|dbus' | head -30 | cut -c1-300 > $R/chrome-log-excerpt.txt
  for f in $R/chrome-*.log; do truncate -s 8000000 $f; done
  if [ -z "$good" ]; then echo "no NVIDIA adapter in Chromium; see chrome-log-excerpt.txt"; head -30 $R/chrome-log-excerpt.txt; exit 0; fi
  echo "chromium flags: $good" | tee $R/chromium-flags.txt
  mkdir -p /tmp/page && tar xJf $P/page.tar.xz -C /tmp/page
  for m in dense-olmoe-active olmoe-1b-7b dbrx-4l; do
    [ -f $M/$m.gguf ] || { echo "no $M/$m.gguf (call 1 made the models)"; continue; }
    timeout ${BT:-170} bash -c "cd $S && ./node brix-cli.mjs bench-browser --model $M/$m.gguf --page-dir /tmp/page --chromium /tmp/chromium --chromium-flags '$base $good' --chromium-log $R/chrome-bench-$m.log --peer wllama --prompt-tokens 512 --gen-tokens 128 --runs 3 --timeout 160 --json" > $R/browser-$m.json 2> $R/browser-$m.err || tail -5 $R/browser-$m.err
    summary $R/browser-$m.json; truncate -s 4000000 $R/chrome-bench-$m.log 2>/dev/null
  done
  ;;
esac
