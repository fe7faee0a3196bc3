#!/usr/bin/env bash
# Builds the std-only Rust tools (fake upstream, open- and closed-loop load generators) into bench/target/.
# No cargo, no crates: plain `rustc -O`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/target"
mkdir -p "$out"
for bin in fake_upstream open closed; do
  src="$here/rust/$bin.rs"
  if [[ ! -x "$out/$bin" || "$src" -nt "$out/$bin" || "$here/rust/common.rs" -nt "$out/$bin" ]]; then
    rustc -O -C codegen-units=1 --edition 2021 -o "$out/$bin" "$src"
  fi
done
echo "built: $(ls "$out" | tr '\n' ' ')"
