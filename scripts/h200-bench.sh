#!/usr/bin/env bash
# Reproduces the H200 figures of README "Performance" on the GPU machine (DEVELOPERS.md: device tool).
# Prepare here:  bash ../shared/tools/gpu-prepare.sh && node scripts/bundle.mjs --small scripts/cli.ts .gpu/brix-cli.mjs
# Then run there (carry .gpu), one step per call to stay within the per-command limit:
#   bash scripts/h200-bench.sh kernels|olmoe|granite|dense|dbrx
#   bash scripts/h200-bench.sh dbrx40 | dbrx40-profile   # all 40 layers, made on the fly (bench --synthetic): no file,
#     ~80 GB of GPU memory at Q4_K_M (QUANT=mixed-q3_k_m: 63 GB, QUANT=mixed-q2_k: 48 GB); load ~1-3 min, one call each
# ACT=ggml-cpu|int8 runs bench and profile with that `--activations` (default f32).
# Each step writes JSON into $OUT (the device tool brings it back); commit it under tests/bench-results/.
set -euo pipefail
step=${1:?step}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
cli() { bash .gpu/run.sh .gpu/brix-cli.mjs "$@"; }
# prefill/decode tok/s and % of roofline of a bench JSON (run.sh has unpacked node to /tmp/gpu-node)
summary() { /tmp/gpu-node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(r.model,"prefill",r.prefillTokensPerSecond.median.toFixed(1),"decode",r.decodeTokensPerSecond.median.toFixed(1),"tok/s",r.decodeMsPerToken.median.toFixed(3),"ms/token, roofline",r.roofline.percentOfRoofline.toFixed(2)+"%")' "$1"; }
bench() { # name, make-model args...
  local name=$1; shift
  [ -f "/tmp/$name.gguf" ] || cli make-model "$@" --out "/tmp/$name.gguf" | tail -3
  cli bench --model "/tmp/$name.gguf" --prompt-tokens 512 --gen-tokens 128 --runs 3 --activations "${ACT:-f32}" --json > "$OUT/$name.json"
  BRIX_DAWN_FLAGS=disable-dawn-features=timestamp_quantization cli profile --model "/tmp/$name.gguf" --pos 576 --top 12 --activations "${ACT:-f32}" | tee "$OUT/$name-profile.txt"
  summary "$OUT/$name.json"
}
synth() { # name, bench --synthetic args...: the full-size model streamed from a synthetic source, never written
  local name=$1; shift
  cli bench "$@" --prompt-tokens 512 --gen-tokens 128 --runs 3 --activations "${ACT:-f32}" --json > "$OUT/$name.json"
  summary "$OUT/$name.json"
  /tmp/gpu-node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log("layers",r.layers,"parameters",r.parameters,"load",r.loadSeconds.toFixed(1),"s, GPU memory",(r.gpuMemoryBytes/2**30).toFixed(2),"GiB")' "$OUT/$name.json"
}
# DBRX at full size: tests/bench-results/<date>-h200-dbrx-40-layers[-<quant>][-<act>].json
dbrx40name() { echo "$(date -u +%F)-h200-dbrx-40-layers$([ "${QUANT:-mixed-q4_k_m}" = mixed-q4_k_m ] || echo "-${QUANT}")$([ "${ACT:-f32}" = f32 ] || echo "-${ACT}")"; }
case $step in
  kernels) cli gpu-info; cli bench-kernels --full --json > "$OUT/bench-kernels.json"; tail -c 3000 "$OUT/bench-kernels.json" ;;
  olmoe) bench olmoe-1b-7b --preset olmoe-1b-7b --quant mixed-q4_k_m ;;
  granite) bench granite-3b-a800m --preset granite-3b-a800m --quant mixed-q4_k_m ;;
  granite1b) bench granite-1b-a400m --preset granite-1b-a400m --quant mixed-q4_k_m ;;
  # A dense llama with OLMoE's active size per token (d 2048, 16 layers, ff 8·1024 = 8192).
  dense) bench dense-olmoe-active --arch llama --layers 16 --embd 2048 --heads 16 --kv-heads 16 --ff 8192 --vocab 50304 --quant mixed-q4_k_m --seed 1 ;;
  dbrx) bench dbrx-4l --preset dbrx --layers ${DBRX_LAYERS:-4} --quant mixed-q4_k_m ;;
  dbrx40) synth "$(dbrx40name)" --synthetic dbrx --quant "${QUANT:-mixed-q4_k_m}" ;;
  dbrx40-profile) BRIX_DAWN_FLAGS=disable-dawn-features=timestamp_quantization cli profile --synthetic dbrx --quant "${QUANT:-mixed-q4_k_m}" --pos 576 --top 12 --activations "${ACT:-f32}" | tee "$OUT/$(dbrx40name)-profile.txt" ;;
  *) echo "unknown step $step" >&2; exit 2 ;;
esac
