#!/usr/bin/env python3
"""Per-op table of a Chrome trace written by `stqn-train bench --profile TRACE`.

Self time (an op's duration minus the ops nested inside it, per thread), share of the total,
inclusive time and call count, largest first.
Usage: profile_summary.py TRACE [--top N]
"""
import argparse
import collections
import json
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("trace")
    p.add_argument("--top", type=int, default=20)
    args = p.parse_args()
    try:
        with open(args.trace) as f:
            events = [e for e in json.load(f) if isinstance(e, dict) and e.get("ph") == "X"]
    except (OSError, ValueError) as e:
        sys.exit(f"profile_summary: {args.trace}: not a Chrome trace: {e}")
    for e in events:
        for key in ("name", "ts", "dur", "tid"):
            if key not in e:
                sys.exit(f"profile_summary: {args.trace}: event without '{key}': {e}")

    by_thread = collections.defaultdict(list)
    for e in events:
        by_thread[e["tid"]].append(e)
    self_us, incl_us, calls = collections.Counter(), collections.Counter(), collections.Counter()
    for thread_events in by_thread.values():
        thread_events.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # enclosing events
        for e in thread_events:
            while stack and stack[-1]["ts"] + stack[-1]["dur"] <= e["ts"]:
                stack.pop()
            if stack:
                self_us[stack[-1]["name"]] -= e["dur"]
            self_us[e["name"]] += e["dur"]
            calls[e["name"]] += 1
            if all(s["name"] != e["name"] for s in stack):  # count recursion once
                incl_us[e["name"]] += e["dur"]
            stack.append(e)
    total = sum(self_us.values()) or 1
    print(f"total self time {total / 1e3:.0f} ms")
    print(f"{'self ms':>10} {'share':>6} {'incl ms':>10} {'calls':>7}  op")
    for name, t in self_us.most_common(args.top):
        print(f"{t / 1e3:10.1f} {100 * t / total:5.1f}% {incl_us[name] / 1e3:10.1f} {calls[name]:7d}  {name}")


if __name__ == "__main__":
    main()
