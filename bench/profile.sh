#!/usr/bin/env bash
# Profile qiao under load: fake upstream + load generator on core 0, qiao pinned to core 1, py-spy
# sampling qiao (native frames off, idle frames off) during a closed-loop run, non-streaming then
# streaming. Writes bench/results/profile-{non-stream,stream}.txt (folded) and .md (top functions).
#   QIAO_SRC=/path/to/src QIAO_PYTHON=/path/to/python bench/profile.sh [seconds]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
secs="${1:-10}"
src="${QIAO_SRC:-$here/../src}"
py="${QIAO_PYTHON:-/work/venv/bin/python}"
spy="${PY_SPY:-$here/.venv-tools/bin/py-spy}"
out="$here/results"; mkdir -p "$out"
"$here/build.sh" >/dev/null
export FAKE_API_BASE=http://127.0.0.1:9301/v1 BENCH_KEY=sk-bench-0123456789abcdef
export QIAO_BENCH_DB="sqlite:///$out/profile-qiao.db"
taskset -c 0 "$here/target/fake_upstream" --port 9301 >/dev/null 2>&1 & up=$!
PYTHONPATH="$src" taskset -c 1 "$py" -m qiao serve --config "$here/configs/fake-upstream.yaml" --port 9302 \
  >"$out/profile-qiao.log" 2>&1 & qiao=$!
trap 'kill $qiao $up 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:9302/ && break; sleep 0.2; done
for mode in non-stream stream; do
  flag=""; [[ $mode == stream ]] && flag="--stream"
  taskset -c 0 "$here/target/closed" --url http://127.0.0.1:9302/v1/chat/completions --key "$BENCH_KEY" \
    -c 32 --warmup 1 --duration $((secs + 2)) $flag --label "qiao $mode" --out "$out/profile-$mode-load.json" &
  load=$!
  sleep 1.5
  "$spy" record --pid $qiao --duration "$secs" --rate 200 --format raw --nonblocking \
    -o "$out/profile-$mode.txt" >/dev/null 2>&1
  wait $load
  python3 "$here/profile_top.py" "$out/profile-$mode.txt" > "$out/profile-$mode.md"
  echo "== $mode: $(head -1 "$out/profile-$mode.md"); table in $out/profile-$mode.md"
done
