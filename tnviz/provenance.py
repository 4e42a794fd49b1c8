"""Where a result came from: commit, versions, machine, command line — and its spread.

Every benchmark and experiment writes its results with :func:`write_results`, so a table in
the README or the docs names the file, and the file names the commit and machine that
produced it. Spread: :func:`median_iqr` for timings (over separate processes),
:func:`mean_ci` for accuracies (over seeds). Standard library only (torch's version and
threads are read if torch is already imported).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "provenance",
    "write_results",
    "median_iqr",
    "mean_ci",
    "replace_section",
    "describe",
    "package_header",
]

ROOT = Path(__file__).resolve().parent.parent  # the checkout, when tnviz runs from one


# What benchmarks and experiments write: not a change to what they measure.
_OUTPUTS = (":(exclude)benchmarks/results", ":(exclude)docs", ":(exclude)README.md")


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


_ABSOLUTE = re.compile(r"(?<![\w.~…])/[^\s:,'\"]+")


def portable(command: str) -> str:
    """``command`` with every absolute path made relative to the checkout (a path outside it
    shortened to ``…/name``): generated text names no folder of the machine that ran it."""

    def relative(match: re.Match) -> str:
        path = Path(match.group(0))
        try:
            return str(path.resolve().relative_to(ROOT)) or "."
        except ValueError:
            return f"…/{path.name}"

    return _ABSOLUTE.sub(relative, command)


def provenance(settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Commit (and whether the tree had uncommitted changes), date, versions, machine, command."""
    versions = {"python": platform.python_version()}
    for name in ("tnviz", "torch", "opt_einsum", "numpy", "tensorly", "cotengra"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = getattr(module, "__version__", "?")
    info: dict[str, Any] = {
        "commit": _git("rev-parse", "HEAD"),
        # changes to the code, not to results files another benchmark of the same run wrote
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".", *_OUTPUTS)),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions,
        "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform()},
        "command": portable(" ".join([Path(sys.argv[0]).name, *sys.argv[1:]])),
        "settings": settings or {},
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["machine"]["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["machine"]["gpu"] = torch.cuda.get_device_name()
    return info


def median_iqr(values: list[float]) -> dict[str, float]:
    """Median and interquartile range (25th and 75th percentiles, linear interpolation)."""
    ordered = sorted(values)

    def quantile(q: float) -> float:
        pos = q * (len(ordered) - 1)
        low = int(pos)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)

    return {"median": quantile(0.5), "q25": quantile(0.25), "q75": quantile(0.75), "n": len(ordered)}


# Student's t, two-sided 95 %, by degrees of freedom (1..30); beyond, the normal 1.96 is within 2 %.
_T95 = (
    (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)
    + (2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086)
    + (2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
)


def mean_ci(values: list[float]) -> dict[str, float | None]:
    """Mean and the half-width of its 95 % confidence interval (Student's t; None for one value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return {"mean": mean, "ci95": None, "n": n}
    sd = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5
    t = _T95[n - 2] if n - 2 < len(_T95) else 1.96
    return {"mean": mean, "ci95": t * sd / n**0.5, "n": n}


def mean_ci_text(values: list[float], digits: int = 4) -> str:
    """``"0.9812 ± 0.0040"``: the mean and its 95 % half-width (:func:`mean_ci`), or the mean alone for one value."""
    s = mean_ci(values)
    return f"{s['mean']:.{digits}f}" + (f" ± {s['ci95']:.{digits}f}" if s["ci95"] is not None else "")


def write_results(path: Path, results: Any, settings: dict[str, Any] | None = None) -> Path:
    """Write ``{"provenance": ..., "results": ...}`` as JSON to ``path`` (atomically)."""
    settings = {k: portable(v) if isinstance(v, str) else v for k, v in (settings or {}).items()}
    return write_json(path, {"provenance": provenance(settings), "results": results})


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def package_header(data: dict[str, Any], generated_by: str, source: str) -> dict[str, str]:
    """The head of a constants file the package reads, copied from a results file: the command
    that wrote it, the results file (relative to the repository) and where its numbers came from."""
    return {"generated_by": generated_by, "source": source, "provenance": describe(data)}


def describe(data: dict[str, Any]) -> str:
    """One line naming where a results file's numbers came from."""
    p = data["provenance"]
    versions = ", ".join(f"{k} {v}" for k, v in p["versions"].items())
    dirty = " (uncommitted changes)" if p.get("dirty") else ""
    machine = p["machine"]
    threads = f", {machine['torch_threads']} torch threads" if "torch_threads" in machine else ""
    return (
        f"Commit `{p['commit'][:10]}`{dirty}, {p['date'][:10]}, {machine['cpu']} ({machine['cores']} cores{threads}); "
        f"{versions}; `{portable(p['command'])}`."
    )


def replace_section(text: str, name: str, body: str) -> str:
    """Replace what stands between ``<!-- name:start -->`` and ``<!-- name:end -->`` in ``text``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"no section {name!r} (markers {start} ... {end})")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body.strip()}\n{end}{tail}"
