"""The ``tnviz`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

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
    args = parser.parse_args(argv)
    try:
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


if __name__ == "__main__":
    sys.exit(main())
