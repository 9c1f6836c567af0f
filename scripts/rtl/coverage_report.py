#!/usr/bin/env python3
"""Summarizes a merged Verilator coverage.dat for the files under rtl/: line and toggle coverage
per file and in total, and every uncovered line. Verilator's line coverage counts statement
blocks of procedural code (always blocks, if/else/case arms); continuous assignments show up in
toggle coverage only. Usage: coverage_report.py DAT RTL_DIR OUT_TXT"""
import collections
import os
import sys


def points(dat):
    with open(dat, encoding="latin-1") as f:
        for line in f:
            if not line.startswith("C '"):
                continue
            key, count = line[3:].rsplit("' ", 1)
            fields = {}
            for item in key.split("\x01"):
                if "\x02" in item:
                    k, v = item.split("\x02", 1)
                    fields[k] = v
            yield fields, int(count)


def main():
    dat, rtl, out = sys.argv[1:4]
    rtl = os.path.realpath(rtl)
    # (kind, file, line[, column/name]) -> max count over duplicates (e.g. several instances)
    hits = collections.defaultdict(int)
    for f, count in points(dat):
        path = os.path.realpath(f.get("f", ""))
        if not path.startswith(rtl + os.sep):
            continue
        page = f.get("page", "")
        kind = "line" if page.startswith("v_line") else "toggle" if page.startswith("v_toggle") else None
        if kind is None:
            continue
        # line points: one per statement block (l = first line, n = column, o = block kind);
        # toggle points: one per signal bit (o = name[bit]). Instances of a module are merged.
        ident = (kind, os.path.relpath(path, os.path.dirname(rtl)), int(f.get("l", 0)),
                 f.get("o", "") if kind == "toggle" else f.get("n", "") + "/" + f.get("o", ""))
        hits[ident] = max(hits[ident], count)
    per = collections.defaultdict(lambda: [0, 0])
    uncovered = collections.defaultdict(set)
    untoggled = collections.defaultdict(set)
    for (kind, path, line, name), count in hits.items():
        per[(kind, path)][1] += 1
        if count > 0:
            per[(kind, path)][0] += 1
        elif kind == "line":
            uncovered[path].add(line)
        else:
            untoggled[path].add(name)
    lines = []
    totals = {}
    for kind in ("line", "toggle"):
        cov = sum(v[0] for (k, _), v in per.items() if k == kind)
        tot = sum(v[1] for (k, _), v in per.items() if k == kind)
        totals[kind] = 100.0 * cov / tot if tot else 0.0
        lines.append(f"{kind} coverage: {totals[kind]:.1f}% ({cov}/{tot} points) of rtl/")
    lines.append("")
    lines.append("per file (line / toggle):")
    for path in sorted({p for (_, p) in per}):
        lc, lt = per[("line", path)]
        tc, tt = per[("toggle", path)]
        lines.append(f"  {path:28s} line {100.0 * lc / lt if lt else 100:5.1f}% ({lc}/{lt})"
                     f"  toggle {100.0 * tc / tt if tt else 100:5.1f}% ({tc}/{tt})")
    lines.append("")
    # Every uncovered line with its source; the reason is the line's "coverage:" comment, the
    # RTL's own account of why no test reaches it (none: a gap to close).
    lines.append("uncovered lines (file:line: source -- why):")
    for path in sorted(uncovered):
        with open(os.path.join(os.path.dirname(rtl), path)) as f:
            source = f.read().splitlines()
        for n in sorted(uncovered[path]):
            text = source[n - 1].strip() if 0 < n <= len(source) else "?"
            code, _, why = text.partition("// coverage:")
            lines.append(f"  {path}:{n}: {code.strip()} -- "
                         + (why.strip() or "NOT EXPLAINED: no test reaches it"))
    lines.append("")
    lines.append("signal bits that never toggled both ways (file: names):")
    for path in sorted(untoggled):
        lines.append(f"  {path}: {', '.join(sorted(untoggled[path]))}")
    text = "\n".join(lines) + "\n"
    tmp = f"{out}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, out)
    print(lines[0])
    print(lines[1])
    print(f"coverage: wrote {out}")


if __name__ == "__main__":
    main()
