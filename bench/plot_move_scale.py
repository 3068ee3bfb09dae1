"""Draws the move's cost curve from bench/results-move-scale.json into a PNG.

usage: plot_move_scale.py RESULTS.json OUT.png
Left: seconds per run (ours and export-import) and requests per run (ours), by environment size. Right: the move's
peak RSS by size. Flat lines mean time linear in runs and memory independent of them.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    results, out = sys.argv[1], sys.argv[2]
    with open(results) as f:
        r = json.load(f)
    pts = r["points"]
    runs = [p["runs"] for p in pts]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=110)
    left.plot(runs, [p["move"]["sPerRun"] for p in pts], "o-", label="quant-platform move: s/run")
    ei = [p for p in pts if p.get("exportImport")]
    if ei:
        left.plot([p["runs"] for p in ei], [p["exportImport"]["sPerRun"] for p in ei], "s--", label="export-all + import-all: s/run")
    left.set_xscale("log")
    left.set_xlabel("runs in the environment")
    left.set_ylabel("seconds per run")
    left.set_ylim(bottom=0)
    left.grid(True, which="both", alpha=0.3)
    twin = left.twinx()
    twin.plot(runs, [p["move"]["requestsPerRun"] for p in pts], "^:", color="tab:green", label="move: requests/run")
    twin.set_ylabel("requests per run")
    twin.set_ylim(bottom=0)
    lines = left.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    left.legend(lines[0] + more[0], lines[1] + more[1], loc="upper right", fontsize=8)
    left.set_title("time and requests per run")
    right.plot(runs, [p["move"]["peakRssMiB"] for p in pts], "o-", color="tab:red")
    right.set_xscale("log")
    right.set_xlabel("runs in the environment")
    right.set_ylabel("peak RSS of the move (MiB)")
    right.set_ylim(bottom=0)
    right.grid(True, which="both", alpha=0.3)
    right.set_title("memory")
    fig.suptitle(f"move cost curve ({r['machine']['cpus']} cores, {r['date'][:10]})")
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
