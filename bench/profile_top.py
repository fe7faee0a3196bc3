"""Summarise a py-spy ``--format raw`` (folded stacks) profile: top functions by own and by total time.

python3 bench/profile_top.py profile.txt [--top 25]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def short(frame: str) -> str:
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "/src/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m['func']} ({path})"


LAYERS = (  # (substring of the frame's file path, layer), first match wins
    ("qiao/server/protocol.py", "HTTP server protocol"),
    ("uvicorn/", "HTTP server protocol"),
    ("qiao/server/", "ASGI app (routing, auth, body, JSON out)"),
    ("qiao/ledger/", "ledger (keys, limits, usage record)"),
    ("qiao/gateway/", "gateway pipeline"),
    ("qiao/providers/", "provider adapter"),
    ("qiao/transport/", "upstream HTTP client"),
    ("qiao/types.py", "request/response models (pydantic)"),
    ("pydantic", "request/response models (pydantic)"),
    ("asyncio/", "asyncio (loop, tasks, timeouts)"),
    ("threading.py", "threads"),
    ("sqlite3", "ledger (keys, limits, usage record)"),
)
# py-spy names files under the working directory's package without their folder
BARE = {"protocol.py": "HTTP server protocol", "app.py": "ASGI app (routing, auth, body, JSON out)"}
BARE |= {f: "gateway pipeline" for f in ("pipeline.py", "params.py", "resolve.py", "stream.py")}


def layer(frame: str) -> str:
    m = FRAME.match(frame.strip())
    path = m["file"] if m else frame
    if path in BARE:
        return BARE[path]
    for needle, name in LAYERS:
        if needle in path:
            return name
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("profile")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--layers", action="store_true", help="also sum own time by layer (file path)")
    args = ap.parse_args()
    own: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total: Counter[str] = Counter()
    n = 0
    with open(args.profile, encoding="utf-8", errors="replace") as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            c = int(count)
            frames = [
                short(x)
                for x in stack.split(";")
                if x and not x.startswith("process ") and not x.startswith("thread ")
            ]
            if not frames:
                continue
            n += c
            own[frames[-1]] += c
            raw = [x for x in stack.split(";") if x and not x.startswith(("process ", "thread "))]
            layers[layer(raw[-1])] += c
            for fr in set(frames):
                total[fr] += c
    print(f"{n} samples\n")
    if args.layers:
        print("| own % | layer |\n|---:|---|")
        for name, c in layers.most_common():
            print(f"| {100 * c / n:.1f} | {name} |")
        print()
    print("| own % | function |\n|---:|---|")
    for fr, c in own.most_common(args.top):
        print(f"| {100 * c / n:.1f} | `{fr}` |")
    print("\n| total % | function |\n|---:|---|")
    for fr, c in total.most_common(args.top):
        print(f"| {100 * c / n:.1f} | `{fr}` |")


if __name__ == "__main__":
    main()
