#!/usr/bin/env python3
"""Synthesizes the accelerator's units for every named configuration with the pinned Yosys
(synth_ice40 / synth_ecp5 / synth_xilinx, by the configuration's device family) and writes cells
by type and LUTs per ternary MAC to a JSON report.

Units: stqn_array (the PE array alone), stqn_core (the datapath: address generator, activation
banks, weight memory, array, thresholds, write-back, pooling, logits) and stqn_top (the whole
accelerator: stqn_core plus the AXI4-Lite slave, the layer-program controller and the program
and step-cycle memories).
Usage: scripts/rtl/area.py [--out reports/area.json] [--config NAME ...]
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RTL = os.path.join(ROOT, "rtl")
SYNTH = {
    "ice40": "synth_ice40 -dsp -flatten -top {top}",
    "ecp5": "synth_ecp5 -flatten -top {top}",
    "xc7": "synth_xilinx -family xc7 -flatten -top {top}",
}
DEFINES = {"ice40": "-DSTQN_ICE40", "ecp5": "", "xc7": ""}
LUT_CELLS = {
    "ice40": ["SB_LUT4"],
    "ecp5": ["LUT4"],
    "xc7": ["LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6"],
}


def module_params(path):
    with open(path) as f:
        return set(re.findall(r"parameter\s+integer\s+(\w+)", f.read()))


def synthesize(top, family, params):
    declared = module_params(os.path.join(RTL, top + ".v"))
    sets = " ".join(f"-set {k} {v}" for k, v in sorted(params.items()) if k in declared)
    sources = " ".join(sorted(glob.glob(os.path.join(RTL, "stqn_*.v"))))
    with tempfile.TemporaryDirectory() as tmp:
        stat_json = os.path.join(tmp, "stat.json")
        script = [f"read_verilog -defer {DEFINES[family]} {sources}"]
        if sets:
            script.append(f"chparam {sets} {top}")
        script.append(SYNTH[family].format(top=top))
        script.append(f"tee -q -o {stat_json} stat -json")
        start = time.time()
        res = subprocess.run(["yosys", "-q", "-p", "; ".join(script)], capture_output=True,
                             text=True)
        if res.returncode != 0:
            sys.stderr.write(res.stdout + res.stderr)
            raise SystemExit(f"area: yosys failed for {top} ({family})")
        with open(stat_json) as f:
            stat = json.load(f)
    cells = stat["design"]["num_cells_by_type"]
    return {k: int(v) for k, v in sorted(cells.items())}, time.time() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "reports", "area.json"))
    ap.add_argument("--config", action="append", help="only these configurations")
    args = ap.parse_args()
    with open(os.path.join(RTL, "configs", "configs.json")) as f:
        configs = json.load(f)["configs"]
    report = {"tool": subprocess.run(["yosys", "-V"], capture_output=True, text=True).stdout.strip(),
              "configs": {}}
    for name, cfg in configs.items():
        if args.config and name not in args.config:
            continue
        p, dev = cfg["params"], cfg["device"]
        macs = p["LANES"] * p["ROWS"] * p["COLS"]
        cells, secs = synthesize("stqn_array", dev["family"], p)
        luts = sum(cells.get(c, 0) for c in LUT_CELLS[dev["family"]])
        entry = {
            "device": dev,
            "ternary_macs_per_cycle": macs,
            "array": {
                "cells": cells,
                "luts": luts,
                "lut_kind": "LUT6..LUT1" if dev["family"] == "xc7" else "LUT4",
                "luts_per_mac": round(luts / macs, 3),
                "synth_seconds": round(secs, 1),
            },
        }
        array_cells = cells
        print(f"area: {name:7s} array {macs:5d} MACs/cycle {luts:6d} LUTs {luts / macs:5.2f} LUT/MAC "
              f"{array_cells}")
        # The datapath alone (stqn_core) and the whole accelerator (stqn_top: AXI4-Lite slave,
        # controller, program memory and datapath).
        for unit, top in (("core", "stqn_core"), ("top", "stqn_top")):
            cells, secs = synthesize(top, dev["family"], p)
            unit_luts = sum(cells.get(c, 0) for c in LUT_CELLS[dev["family"]])
            entry[unit] = {
                "cells": cells,
                "luts": unit_luts,
                "luts_per_mac": round(unit_luts / macs, 3),
                "synth_seconds": round(secs, 1),
            }
            if dev["family"] == "ice40":
                ffs = sum(v for k, v in cells.items() if k.startswith("SB_DFF"))
                entry[unit]["logic_cells_estimate"] = max(unit_luts, ffs)
                entry[unit]["device_logic_cells"] = dev["logic_cells"]
                entry[unit]["device_fraction"] = round(max(unit_luts, ffs) / dev["logic_cells"], 3)
            print(f"area: {name:7s} {unit:5s} {unit_luts:6d} LUTs {cells}")
        report["configs"][name] = entry
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    os.replace(tmp, args.out)  # atomic: a reader never sees half a report
    print(f"area: wrote {args.out}")


if __name__ == "__main__":
    main()
