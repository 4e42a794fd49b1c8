"""How long the README's main job takes: ``tnviz reproduce lenet5-mnist --quick`` on a fresh
results folder (teachers trained, no cache), the install not counted.

    python benchmarks/main_job.py [--repeats 2] [--out benchmarks/results/main_job.json]

Each repeat runs the command as a user does, in a subprocess, in an empty temporary folder, and
records its wall time and the number of students it trained. ``benchmarks/docs.py`` writes the
README's sentence about the main job's time from the results file: nothing there is typed by
hand. Run it on a quiet machine: another process on the two cores stretches every repeat.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
COMMAND = ["reproduce", "lenet5-mnist", "--quick"]


def run_once() -> dict:
    """One run of the main job in an empty folder: its wall time and what it wrote."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "tnviz.cli", *COMMAND, "--out", folder], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        seconds = time.perf_counter() - started
        written = json.loads((Path(folder) / "results.json").read_text())
    return {"seconds": seconds, "students": len(written["rows"]), "run_seconds": written["seconds"]}


def sentence(data: dict) -> str:
    """The README's sentence: the median time, the spread over repeats, the students."""
    runs = data["results"]["runs"]
    seconds = [r["seconds"] for r in runs]
    cores = data["provenance"]["machine"]["cores"]
    spread = f"{_clock(min(seconds))}–{_clock(max(seconds))} over {len(runs)} runs" if len(runs) > 1 else "one run"
    return (
        f"The main job (`tnviz {' '.join(COMMAND)}`: {runs[0]['students']} students) took "
        f"{_clock(statistics.median(seconds))} (median; {spread}) on {cores} cores, the install not counted, "
        "from an empty results folder (its teacher trained too); it prints each student as it ends, "
        "with the time so far and an estimate of what is left."
    )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "main_job.json")
    args = parser.parse_args()

    import torch  # noqa: F401  (versions in the provenance)

    from tnviz.provenance import write_results

    runs = []
    for k in range(args.repeats):
        runs.append(run_once())
        print(f"run {k + 1} of {args.repeats}: {_clock(runs[-1]['seconds'])}", flush=True)
    path = write_results(args.out, {"command": "tnviz " + " ".join(COMMAND), "runs": runs}, {"repeats": args.repeats})
    print(sentence(json.loads(path.read_text())))
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
