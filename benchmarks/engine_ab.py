"""Built-in layers on the one engine against the same layers on the hand-written engine it
replaced, side by side in one process.

Issue 22's last target: no built-in layer slower than it was on the hand-written engine
(``nn/fast.py``, commit ``BEFORE``). Two separate runs of ``benchmarks/layers.py`` compare only
ratios of ratios (layer / dense now over layer / dense then), measured on whatever machine each
ran on, and a single cell of one run moves 0.5–0.7× to 1.5× between runs of one program. Here the
old package is extracted from git (``git archive BEFORE tnviz``), renamed ``tnviz_before`` (its
imports rewritten) and imported beside ``tnviz``; every cell times the old layer and the new one
as an alternating pair (``timing.interleaved``) over ``rounds(--repeats)`` rounds, with the
same constructor, the same weights where the state dicts match, the same input and upstream
gradient. The ratio is now / before: below 1, faster now. ``--processes`` separate processes
give each ratio's median and interquartile range.

Cells, as in ``benchmarks/layers.py``: Linear 1024→1024, batch 1024; Conv2d 64→64, 3×3, padding
1, batch 32 on 32×32 (NCHW and channels_last); ``fwd+bwd`` (a fixed upstream gradient, the input
needing its gradient) and ``fwd`` (under ``torch.no_grad``), every format at every rate::

    python benchmarks/engine_ab.py --repeats 3 --processes 5     # about 15 minutes on 2 CPU threads
    python benchmarks/docs.py layers                               # docs/layers.md
"""

from __future__ import annotations

import argparse
import importlib
import io
import math
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import tokenize
from pathlib import Path

import torch
from layers import CL, add_cell_arguments, fields_of, infer, now_before_head
from timing import (
    add_process_arguments,
    interleaved,
    loaded_allocator,
    results_file,
    rounds_for,
    run_benchmark,
    step,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# the last commit of the hand-written engine (nn/fast.py and its own cost model)
BEFORE = "1e2715f"
RENAMED = "tnviz_before"
# each pair alternates over this many times --repeats rounds (a pair's ratio is the median over rounds)
ROUNDS = 3
CELLS = (("train", "fwd+bwd"), ("infer", "fwd"), ("train_cl", "fwd+bwd cl"), ("infer_cl", "fwd cl"))

_IMPORT = re.compile(r"^(\s*)(from|import) tnviz\b", re.MULTILINE)
_DOTTED = re.compile(r"(?<![\w/.])tnviz(?=\.[A-Za-z_{])")


def renamed_source(text: str, new: str = RENAMED) -> str:
    """A module of the old package with every reference to package ``tnviz`` made ``new``: its
    import statements and the dotted module names in strings (lazy imports by name)."""
    text = _IMPORT.sub(lambda m: f"{m.group(1)}{m.group(2)} {new}", text)
    return _DOTTED.sub(new, text)


def leftover_references(text: str) -> list[str]:
    """The names ``tnviz`` a renamed module still uses as code (not in a string or comment):
    each would reach the new package, so the old side would not be the old engine."""
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return [f"line {t.start[0]}: {t.line.strip()}" for t in tokens if t.type == tokenize.NAME and t.string == "tnviz"]


def extract_before(commit: str, into: Path) -> Path:
    """The package ``tnviz`` at ``commit`` written under ``into`` as package ``RENAMED``."""
    archive = subprocess.run(["git", "archive", commit, "tnviz"], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            path = into / RENAMED / Path(member.name).relative_to("tnviz")
            path.parent.mkdir(parents=True, exist_ok=True)
            data = tar.extractfile(member).read()
            if path.suffix == ".py":
                text = renamed_source(data.decode())
                left = leftover_references(text)
                if left:
                    raise SystemExit(f"{member.name} still names the package tnviz after renaming: {left[0]}")
                data = text.encode()
            path.write_bytes(data)
    return into / RENAMED


def rounds(repeats: int) -> int:
    """Rounds of each pair: ``ROUNDS``× ``repeats``, even, so that each side runs first as often."""
    return rounds_for(ROUNDS * repeats, 2)


def _pair(before_fn, now_fn, args) -> float:
    return interleaved({"before": before_fn, "now": now_fn}, rounds(args.repeats), args.device)["now"]


def _twins(old_nn, kind: str, name: str, rate: float, dev: str):
    """(now, before, same weights): the same layer built by each engine."""
    from tnviz.nn import TensorialConv2d, TensorialLinear

    if kind == "conv":
        now = TensorialConv2d(64, 64, 3, padding=1, bias=False, format=name, rate=rate, device=dev)
        before = old_nn.TensorialConv2d(64, 64, 3, padding=1, bias=False, format=name, rate=rate, device=dev)
    else:
        now = TensorialLinear(1024, 1024, bias=False, format=name, rate=rate, device=dev)
        before = old_nn.TensorialLinear(1024, 1024, bias=False, format=name, rate=rate, device=dev)
    try:
        before.load_state_dict(now.state_dict())
        same = True
    except (RuntimeError, KeyError):
        same = False
    return now, before, same


def measure(args) -> dict:
    """One process's ratios (see the module docstring)."""
    from tnviz import TnvizError

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = args.device
    with tempfile.TemporaryDirectory() as folder:
        extract_before(args.before, Path(folder))
        sys.path.insert(0, folder)
        old_nn = importlib.import_module(f"{RENAMED}.nn")
        old_error = importlib.import_module(RENAMED).TnvizError
        out: dict = {"allocator": loaded_allocator(), "conv": {}, "linear": {}}
        x = torch.randn(32, 64, 32, 32, device=dev, requires_grad=True)
        g = torch.randn(32, 64, 32, 32, device=dev)
        x_cl = x.detach().contiguous(memory_format=CL).requires_grad_()
        g_cl = g.contiguous(memory_format=CL)
        xl = torch.randn(1024, 1024, device=dev, requires_grad=True)
        gl = torch.randn(1024, 1024, device=dev)
        for name in args.formats:
            for rate in args.rates:
                for kind in ("linear", "conv"):
                    try:
                        now, before, same = _twins(old_nn, kind, name, rate, dev)
                    except (TnvizError, old_error) as err:  # a rate too small for rank 1
                        out[kind][f"{name} {rate}"] = {"refused": str(err)}
                        continue
                    xi, gi = (x, g) if kind == "conv" else (xl, gl)
                    row = {
                        "ranks": " ".join(f"{k}={v}" for k, v in now.ranks.items()),
                        "same_ranks": dict(now.ranks) == dict(before.ranks),
                        "same_weights": same,
                        "train": _pair(step(before, xi, gi), step(now, xi, gi), args),
                        "infer": _pair(infer(before, xi), infer(now, xi), args),
                    }
                    if kind == "conv":
                        row["train_cl"] = _pair(step(before, x_cl, g_cl), step(now, x_cl, g_cl), args)
                        row["infer_cl"] = _pair(infer(before, x_cl), infer(now, x_cl), args)
                    out[kind][f"{name} {rate}"] = row
        sys.path.remove(folder)
    return out


def _median(value) -> float:
    return value["median"] if isinstance(value, dict) else float(value)


def _cell(value, digits: int = 2) -> str:
    if isinstance(value, dict):
        return f"{value['median']:.{digits}f} ({value['q25']:.{digits}f}–{value['q75']:.{digits}f})"
    return f"{value:.{digits}f}"


def slower(data: dict, limit: float = 1.05) -> tuple[list[str], list[str], int]:
    """(cells whose median is above ``limit``, of them those whose whole interquartile range is
    above it, number of cells)."""
    above, surely, total = [], [], 0
    for kind in ("linear", "conv"):
        for key, row in data["results"][kind].items():
            for field, title in CELLS:
                if field not in row:
                    continue
                total += 1
                value = row[field]
                # three digits: a cell listed above 1.05 must not print as 1.05
                if _median(value) > limit:
                    above.append(f"{kind} {key} {title} {_cell(value, 3)}")
                    if isinstance(value, dict) and value["q25"] > limit:
                        surely.append(f"{kind} {key} {title} {_cell(value, 3)}")
    return above, surely, total


def table(data: dict) -> str:
    """The summary and a table per layer kind of now / before (median and interquartile range)."""
    above, surely, total = slower(data)
    medians = [
        _median(row[f])
        for kind in ("linear", "conv")
        for row in data["results"][kind].values()
        for f, _ in CELLS
        if f in row
    ]
    geomean = math.exp(sum(math.log(m) for m in medians) / len(medians))
    lines = [
        f"Over all {total} cells: geometric mean {geomean:.3f}, median {statistics.median(medians):.3f}; "
        f"more than 5 % faster: {sum(m < 0.95 for m in medians)}, within 5 %: "
        f"{sum(0.95 <= m <= 1.05 for m in medians)}.",
        "",
        f"{len(above)} of {total} cells have a median more than 5 % slower than before"
        + (": " + ", ".join(above) if above else "")
        + f"; {len(surely)} of them with the whole interquartile range above 1.05"
        + (": " + ", ".join(surely) if surely else "")
        + ".",
        "",
    ]
    mismatched = [
        f"{kind} {key}"
        for kind in ("linear", "conv")
        for key, row in data["results"][kind].items()
        if "refused" not in row and not (row["same_ranks"] and row["same_weights"])
    ]
    if mismatched:
        lines += [f"Not the same ranks or weights in both engines: {', '.join(mismatched)}.", ""]
    for kind in ("linear", "conv"):
        fields = fields_of(kind, CELLS)
        lines += now_before_head(kind, fields, ranks=True)
        for key, row in data["results"][kind].items():
            name, rate = key.split()
            if "refused" in row:
                lines.append(f"| {name} | {rate} | refused | " + " | ".join("—" for _ in fields) + " |")
                continue
            cells = " | ".join(_cell(row[f]) for f, _ in fields)
            lines.append(f"| {name} | {rate} | {row['ranks']} | {cells} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def results_path(allocator: str) -> Path:
    return results_file("engine-ab", allocator)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default=BEFORE, help="the commit of the engine to compare with")
    parser.add_argument("--repeats", type=int, default=3, help=f"each pair alternates over {ROUNDS}× this many rounds")
    add_cell_arguments(parser)
    add_process_arguments(parser, None)
    args = parser.parse_args()
    if args.out is None:
        args.out = results_path(args.allocator)
    if args.quick:
        args.repeats, args.processes, args.rates = 2, 1, [0.1]
    run_benchmark(__file__, args, measure, table, keep=("ranks", "same_ranks", "same_weights", "refused", "allocator"))


if __name__ == "__main__":
    main()
