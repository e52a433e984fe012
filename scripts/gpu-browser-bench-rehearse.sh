#!/usr/bin/env bash
# Rehearses scripts/gpu-browser-bench.sh on this CPU machine (no GPU): both steps in a row, as calls 1 and 2 would
# run, on two tiny make-model files split into 1 MiB parts, 8-token prompt, 4 tokens, 1 run. Node's Dawn runs on
# lavapipe; Chromium (the staged headless_shell reassembled from .gpu-browser, or CHROMIUM=/usr/bin/chromium) on
# SwiftShader (ALLOW_SOFTWARE=1); dpkg, ldconfig and nvidia-smi are stubbed so stage1 leaves / alone. Then checks
# that browser-gpu-latest.json has exactly the issue's shape. Needs the payloads (gpu-browser-bench-prepare.sh).
# Writes /tmp/stage (stage1's fixed path) and /tmp/b16-rehearsal; about 1 min of 2 cores.
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
r=/tmp/b16-rehearsal; rm -rf "$r" /tmp/stage; mkdir -p "$r/bin" "$r/chrome"
printf '#!/bin/sh\necho "stub: $(basename "$0") $*" >&2\n' > "$r/bin/dpkg"; cp "$r/bin/dpkg" "$r/bin/ldconfig"
printf '#!/bin/sh\necho "GPU 0: none (rehearsal on a CPU machine)"\n' > "$r/bin/nvidia-smi"; chmod +x "$r/bin"/*
export PATH=$r/bin:$PATH VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.json VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/nonexistent B16_DIR=$r/w MODELS_DIR=$r/models CHROME_ROOT=$r/chrome
export MODELS="tiny-olmoe tiny-llama" SPLIT_MIB=1 PROMPT_TOKENS=8 GEN_TOKENS=4 RUNS=1 ALLOW_SOFTWARE=1 PROBE_TIMEOUT_S=30
OUT=$r/out1 nice bash scripts/gpu-browser-bench.sh node 2>&1 | tee "$r/node.log"
OUT=$r/out2 nice bash scripts/gpu-browser-bench.sh browser 2>&1 | tee "$r/browser.log"
node -e '
const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const keys = (o) => Object.keys(o).join(",");
const ok = keys(j) === "date,browser,adapter,runs" && keys(j.adapter) === "vendor,architecture,description" && j.runs.length === 2 &&
  j.runs.every((r) => keys(r) === "model,brix,wllama,brixNode" && keys(r.brix) === "decode,prefill,loadSeconds" &&
    keys(r.wllama) === "decode,prefill,loadSeconds" && keys(r.brixNode) === "decode,prefill" &&
    [r.brix.decode, r.brix.prefill, r.brix.loadSeconds, r.wllama.decode, r.wllama.prefill, r.wllama.loadSeconds, r.brixNode.decode, r.brixNode.prefill].every((x) => typeof x === "number" && x > 0));
console.log(ok ? "rehearsal OK: browser-gpu-latest.json has the shape, every figure filled" : "rehearsal FAILED: " + JSON.stringify(j));
process.exit(ok ? 0 : 1);' "$r/out2/browser-gpu-latest.json"
ls -la "$r/out2"
