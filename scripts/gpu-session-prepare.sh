#!/usr/bin/env bash
# Builds the four payloads of scripts/gpu-session.sh into DEST/c1..c4, each under ~34 MB (a device call carries
# 64 MiB, the session checkout's tracked tree included: about 32 MB with the bundled demo model).
# Needs, in this checkout: .gpu/ from ../shared/tools/gpu-prepare.sh, .gpu/brix-cli.mjs (scripts/bundle.mjs --small),
# .gpu/peer/ from ../shared/tools/gpu-peer/prepare.sh; and SPARTICUZ_DIR (an unpacked @sparticuz/chromium@153.0.0).
# Usage: SPARTICUZ_DIR=... bash scripts/gpu-session-prepare.sh DEST
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
dest=$(realpath -m "${1:?DEST}"); spz=${SPARTICUZ_DIR:?unpacked @sparticuz/chromium package}
gb=../shared/tools/gpu-browser
rm -rf "$dest"; mkdir -p "$dest"/c1 "$dest"/c2 "$dest"/c3 "$dest"/c4
for c in c1 c2 c3 c4; do cp scripts/gpu-session.sh "$dest/$c/"; done
git rev-parse HEAD > "$dest/c1/commit.txt"
# c1: node, Dawn, loaders, the CLI, the Node probe
cp .gpu/node.xz .gpu/brix-cli.mjs "$dest/c1/"; cp -r .gpu/gl .gpu/node_modules "$dest/c1/"
cp $gb/node-probe.mjs $gb/probe-core.mjs "$dest/c1/"
# c2: llama.cpp's Vulkan build, chromium part 1; c3: part 2 and the tars; c4: part 3, the probe page, the bench page
cp -r .gpu/peer "$dest/c2/"
split -b 20M -a 2 "$spz/bin/chromium.br" "$dest/chromium.br.part-"
mv "$dest/chromium.br.part-aa" "$dest/c2/"
cat "$dest"/chromium.br.part-a[b-z] > "$dest/rest.br"; rm "$dest"/chromium.br.part-a[b-z]
split -b 31M -a 2 "$dest/rest.br" "$dest/chromium.br.part-b"; rm "$dest/rest.br"
mv "$dest/chromium.br.part-baa" "$dest/c3/"; mv "$dest"/chromium.br.part-b* "$dest/c4/"
cp "$spz"/bin/{swiftshader,fonts,al2023}.tar.br "$dest/c3/"
cp $gb/server.mjs $gb/probe.html $gb/probe-core.mjs "$dest/c4/"
node scripts/cli.mjs bench-browser --build-page "$dest/page" >/dev/null
tar cJf "$dest/c4/page.tar.xz" -C "$dest/page" . && rm -rf "$dest/page"
du -sh "$dest"/c*
