#!/usr/bin/env python3
"""Plots what bench/soak.py printed: RSS, search p50/p99, descriptors and threads per sample.

    bench/soak-plot.py SOAK_OUTPUT OUT.svg [TITLE]
Needs matplotlib.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def rows(path):
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0].replace(".", "").isdigit():
            minute, rss, fds, threads, _, p50, p99 = cells
            num = lambda v: float(v) if v != "-" else float("nan")
            yield float(minute), float(rss), int(fds), int(threads), num(p50), num(p99)


def main():
    source, out = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else "scry lsp soak"
    minute, rss, fds, threads, p50, p99 = zip(*rows(source))
    fig, (top, mid, low) = plt.subplots(3, 1, sharex=True, figsize=(8, 7))
    top.plot(minute, rss, color="tab:blue")
    top.set_ylabel("RSS (MB)")
    top.set_ylim(bottom=0)
    mid.plot(minute, p50, label="p50", color="tab:green")
    mid.plot(minute, p99, label="p99", color="tab:red")
    mid.set_ylabel("scry/search (ms)")
    mid.set_ylim(bottom=0)
    mid.legend(loc="upper left")
    low.plot(minute, fds, label="descriptors", color="tab:purple")
    low.plot(minute, threads, label="threads", color="tab:orange")
    low.set_ylabel("count")
    low.set_ylim(bottom=0)
    low.legend(loc="upper left")
    low.set_xlabel("minute")
    for ax in (top, mid, low):
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
