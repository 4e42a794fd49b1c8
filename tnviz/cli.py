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
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except TnvizError as err:
        print(f"tnviz: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tnviz: interrupted; the checkpoints are kept: run the same command again to resume", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
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
    _reproduce_arguments(sub.add_parser("reproduce", help="reproduce a paper experiment (lenet5-mnist)"))
    _compress_arguments(
        sub.add_parser("compress", help="compress a model of your own (or a reference network) and save it")
    )
    exp = sub.add_parser("export", help="write a compressed model as plain PyTorch (torch.export) and ONNX")
    exp.add_argument("compressed", help="the model.pt that tnviz compress wrote")
    exp.add_argument("--shape", required=True, help="the example input's shape, batch first: 1,3,224,224")
    exp.add_argument("--dtype", default="float32", choices=["float32", "float64", "int64"])
    exp.add_argument("--model", help="the uncompressed architecture, if the file does not name it (as compress's)")
    exp.add_argument("--kwargs", help="keyword arguments for --model, as JSON")
    exp.add_argument("--no-onnx", action="store_true", help="write model.pt2 only")
    exp.add_argument("--out", default="exported", help="the output folder (default: exported)")
    return parser


def _reproduce_arguments(rep: argparse.ArgumentParser) -> None:
    rep.add_argument("experiment", choices=["lenet5-mnist"])
    rep.add_argument(
        "--quick",
        action="store_true",
        help="the quick setting: 6 formats × 3 rates × 4 schedules, one seed, short training (72 students)",
    )
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


def _compress_arguments(comp: argparse.ArgumentParser) -> None:
    comp.add_argument(
        "--model",
        required=True,
        help="path/to/file.py:ClassOrFactory, package.module:callable, or lenet5, resnet20, resnet32, resnet18",
    )
    comp.add_argument("--kwargs", help="keyword arguments for the class or factory, as JSON: '{\"num_classes\": 5}'")
    comp.add_argument(
        "--checkpoint", help="the model's trained weights: a state_dict file (read with weights_only=True)"
    )
    comp.add_argument(
        "--format",
        default=DEFAULT_FORMAT,
        choices=[*FORMATS, "auto"],
        help=f"the layer format (default: {DEFAULT_FORMAT}); auto: per layer, the fastest on the data's input",
    )
    comp.add_argument("--rate", type=float, required=True)
    comp.add_argument(
        "--budget",
        default="layer",
        choices=["layer", "model", "flops", "latency"],  # tnviz.compression.budget.BUDGETS (importing it loads torch)
        help="what --rate is asked of: each compressed layer's parameters (layer, the default), the whole "
        "model's parameters (model), or its FLOPs (flops) or inference time (latency) on the data's input",
    )
    comp.add_argument("--order", type=int, default=3)
    comp.add_argument("--include", action="append", help="module name or glob pattern to compress (repeatable)")
    comp.add_argument("--skip", action="append", help="module name or glob pattern to keep dense (repeatable)")
    comp.add_argument(
        "--data",
        default="mnist-offline",
        help="mnist-offline, mnist, cifar10 (with --root), npz:PATH (x, y arrays) or imagefolder:PATH",
    )
    comp.add_argument("--root", help="the folder holding the dataset's files (mnist, cifar10)")
    comp.add_argument(
        "--schedule", default="e2e", choices=["seq", "e2e", "none"], help="the distillation after compressing"
    )
    comp.add_argument("--epochs", type=int, default=5)
    comp.add_argument("--out", default="compressed", help="the output folder (default: compressed)")


def _reproduce(args) -> int:
    from tnviz.experiments.lenet5 import reproduce_lenet5

    split = lambda text: None if text is None else [t.strip() for t in text.split(",") if t.strip()]
    rates = split(args.rates)
    try:
        rates = None if rates is None else [float(r) for r in rates]
    except ValueError:
        raise TnvizError(f"bad --rates {args.rates!r}; expected numbers like 0.02,0.05", token=args.rates) from None
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


def _demo(args) -> int:
    from tnviz.demo import run_demo

    return 0 if run_demo(sys.stdout, batch=args.batch, length=args.size) else 1


def _draw(args) -> int:
    from tnviz.core.diagram import Diagram

    diagram = Diagram.parse(args.spec)
    if args.sizes:
        diagram = diagram.bind(_parse_sizes(args.sizes))
    style = {"title": args.title, "labels": not args.no_labels}
    if args.plan:
        style["plan"] = diagram.plan()
    diagram.save(args.output, **style)
    print(f"wrote {args.output}")
    return 0


def _plan(args) -> int:
    from tnviz.core.diagram import Diagram

    options = {
        "padding": _option(args.padding),
        "stride": _option(args.stride),
        "dilation": _option(args.dilation),
        "padding_mode": args.padding_mode,
    }
    diagram = Diagram.parse(args.spec, **{k: v for k, v in options.items() if v is not None})
    print(diagram.plan(_parse_sizes(args.sizes), optimize=args.optimize))
    return 0


def _compress(args) -> int:
    from pathlib import Path

    from tnviz.compression import compress, distill, evaluate, load_dataset
    from tnviz.compression.saved import load_weights, save_compressed
    from tnviz.compression.user_model import load_user_model, parse_kwargs

    kwargs = parse_kwargs(args.kwargs)
    teacher = load_user_model(args.model, kwargs)
    if args.checkpoint:
        load_weights(teacher, args.checkpoint)
    train, test = load_dataset(args.data, args.root)
    example = train[0][0].unsqueeze(0)
    student, report = compress(
        teacher, format=args.format, rate=args.rate, order=args.order, skip=args.skip, include=args.include,
        example_input=example, progress=True, budget=args.budget,
    )  # fmt: skip
    out = Path(args.out)
    (out / "diagrams").mkdir(parents=True, exist_ok=True)
    print(report)
    labels = train[0][1]
    classes = isinstance(labels, int) or (hasattr(labels, "dtype") and not labels.dtype.is_floating_point)
    if classes:
        before = evaluate(teacher, test)[0]
        after_init = evaluate(student, test)[0]
        print(f"test accuracy: teacher {before:.4f}, student after decomposition {after_init:.4f}")
    elif args.schedule != "none":
        raise TnvizError(
            f"distillation trains a classifier, and the labels of {args.data} are not class numbers; "
            "pass --schedule none",
            token=args.data,
        )
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
        module = student.get_submodule(layer.name.removesuffix(".in_proj_weight"))
        diagram = module.in_proj.diagram if layer.name.endswith("in_proj_weight") else module.diagram
        diagram.save(str(out / "diagrams" / f"{layer.name}.svg"))
    (out / "report.txt").write_text(str(report) + "\n")
    save_compressed(student, report, out / "model.pt", model=args.model, model_kwargs=kwargs)
    print(
        f"wrote {out}/model.pt and model.json (tnviz.compression.load_compressed(path, YourModel()) rebuilds it), "
        "report.txt and diagrams/"
    )
    return 0


def _export(args) -> int:
    import torch

    from tnviz.compression.export import export_model
    from tnviz.compression.saved import load_compressed
    from tnviz.compression.user_model import load_user_model, parse_kwargs

    try:
        shape = tuple(int(v) for v in args.shape.split(","))
    except ValueError:
        raise TnvizError(f"bad --shape {args.shape!r}; expected sizes like 1,3,224,224", token=args.shape) from None
    architecture = load_user_model(args.model, parse_kwargs(args.kwargs)) if args.model else None
    model = load_compressed(args.compressed, architecture)
    generator = torch.Generator().manual_seed(0)
    if args.dtype == "int64":
        example = torch.zeros(shape, dtype=torch.int64)
    else:
        example = torch.randn(shape, generator=generator, dtype=getattr(torch, args.dtype))
    print(export_model(model, example, args.out, onnx=not args.no_onnx))
    return 0


# each subcommand's function, which main() calls with the parsed arguments
_COMMANDS = {
    "demo": _demo,
    "draw": _draw,
    "plan": _plan,
    "reproduce": _reproduce,
    "compress": _compress,
    "export": _export,
}


if __name__ == "__main__":
    sys.exit(main())
