#!/usr/bin/env python3
"""Synthesizes the accelerator's units for every named configuration with the pinned Yosys
(synth_ice40 / synth_ecp5 / synth_xilinx, by the configuration's device family) and writes cells
by type and LUTs per ternary MAC to a JSON report.

Units: stqn_array (the PE array alone), stqn_core (the datapath: address generator, activation
banks, weight memory, array, thresholds, write-back, pooling, logits) and stqn_top (the whole
accelerator: stqn_core plus the AXI4-Lite slave, the layer-program controller and the program
and step-cycle memories). For iCE40, stqn_core and stqn_top are also packed by nextpnr-ice40,
whose logic-cell count (a cell holds one LUT4, one flip-flop and one carry) is what the device
limit is about: flip-flops and carries that cannot share a cell with a LUT cost cells too.
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


def synthesize(top, family, params, netlist=None):
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
        if netlist:
            script.append(f"write_json {netlist}")
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


def pack_ice40(netlist, dev):
    """Packs a synthesized iCE40 netlist with nextpnr-ice40 (no placement: the accelerator's
    AXI4-Lite pins outnumber a UP5K package's) and returns its device utilisation: logic cells
    (LUT4 + flip-flop + carry per cell, as the device counts them), RAM, DSP, SPRAM."""
    res = subprocess.run(["nextpnr-ice40", f"--{dev['part']}", "--package", dev["package"], "--json", netlist,
                          "--pack-only"], capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stdout + res.stderr)
        raise SystemExit(f"area: nextpnr-ice40 --pack-only failed for {netlist}")
    used = {}
    for m in re.finditer(r"^Info:\s+(ICESTORM_\w+):\s+(\d+)/\s*(\d+)", res.stdout + res.stderr, re.M):
        used[m.group(1)] = {"used": int(m.group(2)), "available": int(m.group(3))}
    if "ICESTORM_LC" not in used:
        raise SystemExit(f"area: no ICESTORM_LC line in nextpnr-ice40's report for {netlist}")
    return used


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
            with tempfile.TemporaryDirectory() as tmp:
                netlist = os.path.join(tmp, "netlist.json") if dev["family"] == "ice40" else None
                cells, secs = synthesize(top, dev["family"], p, netlist)
                packed = pack_ice40(netlist, dev) if netlist else None
            unit_luts = sum(cells.get(c, 0) for c in LUT_CELLS[dev["family"]])
            entry[unit] = {
                "cells": cells,
                "luts": unit_luts,
                "luts_per_mac": round(unit_luts / macs, 3),
                "synth_seconds": round(secs, 1),
            }
            if packed:
                lcs = packed["ICESTORM_LC"]["used"]
                entry[unit]["packed"] = packed
                entry[unit]["logic_cells"] = lcs
                entry[unit]["device_logic_cells"] = dev["logic_cells"]
                entry[unit]["device_fraction"] = round(lcs / dev["logic_cells"], 3)
                print(f"area: {name:7s} {unit:5s} {lcs:6d} logic cells after packing "
                      f"({100 * lcs / dev['logic_cells']:.1f}% of {dev['logic_cells']})")
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
