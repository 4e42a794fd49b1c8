"""The ``tnviz`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tnviz.core.formats import DEFAULT_FORMAT, FORMATS
from tnviz.errors import TnvizError

__all__ = ["main"]


def _parse_sizes(items: Sequence[str]) -> dict:
    """``b=32 s=64 X=32,64,32,32 x=32,3`` -> sizes for :meth:`Diagram.bind`."""
    sizes: dict = {}
    for item in items:
        for part in item.split():
            if "=" not in part:
                raise TnvizError(f"bad size {part!r}; expected NAME=INT or NAME=INT,INT,...", token=part)
            name, value = part.split("=", 1)
            try:
                numbers = tuple(int(v) for v in value.split(","))
            except ValueError:
                raise TnvizError(f"bad size {part!r}; expected integers after '='", token=part) from None
            sizes[name] = numbers[0] if len(numbers) == 1 and "," not in value else numbers
    return sizes


def _option(value: str | None):
    if value is None:
        return None
    if value in ("same", "valid"):
        return value
    try:
        return int(value)
    except ValueError:
        raise TnvizError(f"bad option value {value!r}; expected an integer", token=value) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tnviz`` command."""
    parser = argparse.ArgumentParser(prog="tnviz", description="Tensor diagrams you can see, price, run and train.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="plan and run the paper's layers on random data, checked against dense")
    demo.add_argument("--batch", type=int, default=8)
    demo.add_argument("--size", type=int, default=16, help="image height and width")
    draw = sub.add_parser("draw", help="draw a spec to a file (svg, png, pdf, tex or dot)")
    draw.add_argument("spec")
    draw.add_argument("sizes", nargs="*", help="NAME=INT for an index, NAME=D1,D2,... for a tensor's shape")
    draw.add_argument("-o", "--output", required=True, help="the file to write; its extension gives the format")
    draw.add_argument("--title")
    draw.add_argument("--no-labels", action="store_true")
    draw.add_argument("--plan", action="store_true", help="overlay the contraction order (needs all sizes)")
    plan = sub.add_parser("plan", help="print the contraction plan of a spec")
    plan.add_argument("spec")
    plan.add_argument("sizes", nargs="*", help="NAME=INT for an index, NAME=D1,D2,... for a tensor's shape")
    plan.add_argument("--padding")
    plan.add_argument("--stride")
    plan.add_argument("--dilation")
    plan.add_argument("--padding-mode")
    plan.add_argument("--optimize", default="auto")
    rep = sub.add_parser("reproduce", help="reproduce a paper experiment (lenet5-mnist)")
    rep.add_argument("experiment", choices=["lenet5-mnist"])
    rep.add_argument("--quick", action="store_true", help="the ≤ 5-minute setting (6 formats, short training)")
    rep.add_argument("--out", default="results", help="the results folder (default: results)")
    rep.add_argument("--formats", help="comma-separated formats (default: the setting's)")
    rep.add_argument("--rates", help="comma-separated rates (default: 0.02,0.05,0.1)")
    rep.add_argument("--progress", action="store_true", help="show a progress bar for every training run")
    rep.add_argument(
        "--seeds",
        type=int,
        help="repetitions, each with its own split, teacher and shuffling "
        "(default: 3 in the full setting, 1 with --quick)",
    )
    rep.add_argument(
        "--schedules", help="comma-separated training schedules (default: blockwise,blockwise+e2e,e2e,scratch)"
    )
    rep.add_argument(
        "--inits",
        help="comma-separated initialisations of the students: decompose (weight-space, the default) and/or "
        "activations (data-aware: fitted to the teacher's layer outputs on training images)",
    )
    comp = sub.add_parser("compress", help="compress a trained reference network from its checkpoint")
    comp.add_argument("--model", required=True, help="a state_dict file (read with weights_only=True)")
    comp.add_argument("--arch", default="lenet5", help="lenet5, resnet20 or resnet32 (default: lenet5)")
    comp.add_argument(
        "--format", default=DEFAULT_FORMAT, choices=list(FORMATS), help=f"the layer format (default: {DEFAULT_FORMAT})"
    )
    comp.add_argument("--rate", type=float, required=True)
    comp.add_argument("--order", type=int, default=3)
    comp.add_argument("--skip", action="append", help="module name or glob pattern to keep dense (repeatable)")
    comp.add_argument("--data", default="mnist-offline", help="mnist-offline, mnist or cifar10")
    comp.add_argument("--root", help="the folder holding the dataset's files (mnist, cifar10)")
    comp.add_argument(
        "--schedule",
        "--mode",
        dest="schedule",
        default="e2e",
        choices=["seq", "e2e", "none"],
        help="the distillation schedule after compressing (--mode: its earlier name)",
    )
    comp.add_argument("--epochs", type=int, default=5)
    comp.add_argument("--out", default="compressed", help="the output folder (default: compressed)")
    args = parser.parse_args(argv)
    try:
        if args.command == "reproduce":
            from tnviz.compression.reproduce import reproduce_lenet5

            split = lambda text: None if text is None else [t.strip() for t in text.split(",") if t.strip()]
            rates = split(args.rates)
            try:
                rates = None if rates is None else [float(r) for r in rates]
            except ValueError:
                raise TnvizError(
                    f"bad --rates {args.rates!r}; expected numbers like 0.02,0.05", token=args.rates
                ) from None
            reproduce_lenet5(
                args.out,
                args.quick,
                split(args.formats),
                rates,
                progress=args.progress,
                seeds=args.seeds,
                schedules=split(args.schedules),
                inits=split(args.inits),
            )
            return 0
        if args.command == "compress":
            return _compress(args)
        if args.command == "demo":
            from tnviz.demo import run_demo

            return 0 if run_demo(sys.stdout, batch=args.batch, length=args.size) else 1
        from tnviz.core.diagram import Diagram

        if args.command == "draw":
            diagram = Diagram.parse(args.spec)
            if args.sizes:
                diagram = diagram.bind(_parse_sizes(args.sizes))
            style = {"title": args.title, "labels": not args.no_labels}
            if args.plan:
                style["plan"] = diagram.plan()
            diagram.save(args.output, **style)
            print(f"wrote {args.output}")
            return 0
        options = {
            "padding": _option(args.padding),
            "stride": _option(args.stride),
            "dilation": _option(args.dilation),
            "padding_mode": args.padding_mode,
        }
        diagram = Diagram.parse(args.spec, **{k: v for k, v in options.items() if v is not None})
        print(diagram.plan(_parse_sizes(args.sizes), optimize=args.optimize))
        return 0
    except TnvizError as err:
        print(f"tnviz: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tnviz: interrupted; the checkpoints are kept: run the same command again to resume", file=sys.stderr)
        return 130


def _compress(args) -> int:
    from pathlib import Path

    from tnviz.compression import build_model, compress, distill, evaluate, load_dataset
    from tnviz.compression.saved import load_weights, save_compressed

    teacher = load_weights(build_model(args.arch), args.model)
    train, test = load_dataset(args.data, args.root)
    example = train[0][0].unsqueeze(0)
    if tuple(example.shape[1:]) != ((1, 28, 28) if args.arch == "lenet5" else (3, 32, 32)):
        raise TnvizError(f"the {args.data} images ({tuple(example.shape[1:])}) do not fit {args.arch}", token=args.data)
    student, report = compress(
        teacher, format=args.format, rate=args.rate, order=args.order, skip=args.skip, example_input=example
    )
    out = Path(args.out)
    (out / "diagrams").mkdir(parents=True, exist_ok=True)
    print(report)
    before = evaluate(teacher, test)[0]
    after_init = evaluate(student, test)[0]
    print(f"test accuracy: teacher {before:.4f}, student after decomposition {after_init:.4f}")
    if args.schedule != "none":
        blocks = max(1, args.epochs // 2)  # seq: half the epochs on the blocks, the rest end to end
        result = distill(
            student, teacher, train, test, schedule=args.schedule, epochs=args.epochs, block_epochs=blocks,
            finetune_epochs=max(0, args.epochs - blocks), checkpoint=out / "distill.pt", resume=True,
        )  # fmt: skip
        if result.stopped:  # Ctrl-C: distill.pt keeps the last whole epoch; nothing half-trained is saved
            raise KeyboardInterrupt
        print(f"after {args.schedule} distillation: {result.test_accuracy:.4f}")
    for layer in report.layers:
        student.get_submodule(layer.name).diagram.save(str(out / "diagrams" / f"{layer.name}.svg"))
    (out / "report.txt").write_text(str(report) + "\n")
    save_compressed(
        student, out / "model.pt", args.arch, format=args.format, rate=args.rate, order=args.order, skip=args.skip
    )
    print(f"wrote {out}/model.pt (tnviz.compression.saved.load_compressed reads it), report.txt and diagrams/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
