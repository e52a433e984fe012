#!/usr/bin/env bash
# Builds the payloads of scripts/gpu-browser-bench.sh (issue #16) and prints the device calls with their sizes.
#   .gpu/            ../shared/tools/gpu-prepare.sh (node.xz, Dawn, loader debs; reused by the next one)
#   .gpu-browser/a   ../shared/tools/gpu-browser/prepare.sh: stage1.sh, node.xz, webgpu (dawn.node.xz), gl debs, chromium part aa
#   .gpu-browser/b   the same: stage2.sh, chromium parts ab and ac, swiftshader/fonts/al2023 .tar.br, the probe page
#   .gpu-b16/c1      brix-cli.mjs (scripts/bundle.mjs --small), commit.txt
#   .gpu-b16/c2      page.tar.xz (bench-browser --build-page: the bench page, the engine worker, wllama's wasm)
# Usage: bash scripts/gpu-browser-bench-prepare.sh [--rebuild]   (--rebuild: .gpu-browser and .gpu too)
# Then `bash ../shared/tools/gpu-peer/slim.sh on` before the calls, and `slim.sh off` after them, before any commit.
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
shared=$root/../shared/tools
ex=$(git rev-parse --git-path info/exclude); [[ $ex = /* ]] || ex=$root/$ex
mkdir -p "$(dirname "$ex")"
for p in /.gpu/ /.gpu-browser/ /.gpu-b16/; do grep -qxF "$p" "$ex" 2>/dev/null || echo "$p" >> "$ex"; done
[ "${1:-}" = --rebuild ] && rm -rf .gpu .gpu-browser
if [ ! -s .gpu/node.xz ] || ! ls .gpu/gl/libvulkan1_*.deb > /dev/null 2>&1; then
  if [ -d .git ]; then bash "$shared/gpu-prepare.sh"
  else # a worktree: gpu-prepare.sh writes .git/info/exclude, which is a file's path here
    sed 's#\.git/info/exclude#"$(git rev-parse --git-path info/exclude)"#g' "$shared/gpu-prepare.sh" > /tmp/gpu-prepare-worktree.sh
    bash /tmp/gpu-prepare-worktree.sh; rm -f /tmp/gpu-prepare-worktree.sh
  fi
fi
[ -f .gpu-browser/a/stage1.sh ] && [ -f .gpu-browser/b/stage2.sh ] || bash "$shared/gpu-browser/prepare.sh"
rm -rf .gpu-b16; mkdir -p .gpu-b16/c1 .gpu-b16/c2
node scripts/bundle.mjs --small scripts/cli.ts .gpu-b16/c1/brix-cli.mjs > /dev/null
{ git rev-parse HEAD; git status --porcelain --untracked-files=no | sed 's/^/changed: /'; } > .gpu-b16/c1/commit.txt
page=$(mktemp -d); node scripts/cli.mjs bench-browser --build-page "$page" > /dev/null
tar cJf .gpu-b16/c2/page.tar.xz -C "$page" . && rm -rf "$page"

# What a call carries: the tree (tracked and untracked-not-ignored files; a link to a file travels as a link)
# plus the carried paths. 64 MiB at most.
tree_bytes() {
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    if [ -L "$f" ] && [ -d "$f" ]; then du -sbL "$f" | cut -f1
    elif [ -L "$f" ]; then stat -c %s "$f"
    elif [ -f "$f" ]; then stat -c %s "$f"; fi
  done | awk '{s += $1} END {print s + 0}'
}
carried() { local s=0 p; for p in "$@"; do s=$(( s + $(du -sbL "$p" | cut -f1) )); done; echo $s; }
tree=$(tree_bytes); limit=$(( 64 << 20 ))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
report() { # name, carried paths...
  local name=$1; shift; local c; c=$(carried "$@"); local t=$(( tree + c ))
  printf '%s: tree %s + carried %s = %s of 64 MiB%s\n' "$name" "$(mib "$tree")" "$(mib "$c")" "$(mib "$t")" "$([ $t -le $limit ] || echo '  ** OVER THE LIMIT **')"
}
if [ "$(find public/models -type l | wc -l)" = 0 ]; then
  big=$(find public/models -type f -size +1M -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  echo "note: public/models is not slimmed: counted as after \`bash ../shared/tools/gpu-peer/slim.sh on\` (-$(mib "$big"))"
  tree=$(( tree - big ))
fi
report "call 1" .gpu-browser/a .gpu-b16/c1
report "call 2" .gpu-browser/b .gpu-b16/c2
report "call 3" 
[ -d .gpu/peer ] && report "call peer" .gpu/peer
cat <<'CALLS'

Device calls, back to back (each within ~30 s of the last one's end), kind left out (H100 or H200):
  1  carry [".gpu-browser/a", ".gpu-b16/c1"]   timeout_s 600
     bash scripts/gpu-browser-bench.sh node 2>&1 | tee $OUT/node.log
  2  carry [".gpu-browser/b", ".gpu-b16/c2"]   timeout_s 600
     bash scripts/gpu-browser-bench.sh browser 2>&1 | tee $OUT/browser.log
  3  only if call 2 ends with "NEXT CALL": carry []   timeout_s 600
     bash scripts/gpu-browser-bench.sh browser 2>&1 | tee $OUT/browser3.log
  peer (issues 14/15, any time after call 1; .gpu/peer from ../shared/tools/gpu-peer/prepare.sh): carry [".gpu/peer"]
     bash scripts/gpu-browser-bench.sh peer 2>&1 | tee $OUT/peer.log   -> gpu-peer-latest.json
Each call brings back b16.tgz (all raw outputs so far), browser-gpu-latest.json, browser-gpu-details.json,
summary.txt and its log; the last call's browser-gpu-latest.json is the one to commit.
CALLS
