"""The ``aad`` command: data, train, train-purifier, evaluate, notebook, series, site, readme, remote, profile, plan, bench. Every command reads params.yaml (with
``--set key.sub=value`` overrides) and fails with one clear line on a bad name or value."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import config, data
from .validation import AadError

if TYPE_CHECKING:
    from .params import Params


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # its options belong to benchmarks/run.py, which parses them itself
        args = argparse.Namespace(run=_cmd_bench, bench_args=argv[1:])
    else:
        args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        args.run(args)
    except AadError as err:
        print(f"aad: error: {err}", file=sys.stderr)
        return 2
    return 0


def _params(args: argparse.Namespace) -> Params:
    """The typed, checked params of ``--params`` with the ``--set`` overrides (the one boundary)."""
    return config.load_params(args.params, args.set)


def _cmd_fetch(args: argparse.Namespace) -> None:
    from .data_sources import DataSource, is_source, load_source

    if not is_source(args.name):
        print(data.fetch(args.name, args.root, download=args.download))
        return
    source = DataSource.parse(args.name)
    if source.kind != "torchvision":
        raise AadError(f"{args.name!r} is read where it lies: nothing to fetch. Set data.name to it and run "
                       "`aad data prepare` (keep the files under data/ so that DVC tracks them).")
    load_source(source, args.root, download=args.download)  # both splits, downloaded when allowed
    print(Path(args.root) / source.target)


# Each command imports what it runs, and only that: DVC's stages depend on exactly the modules their
# command imports (tests/test_stage_dependencies.py), so `aad train` must not import a section.

def _cmd_prepare(args: argparse.Namespace) -> None:
    from . import pipeline

    print(pipeline.prepare_data(_params(args)))


def _cmd_train(args: argparse.Namespace) -> None:
    from . import pipeline

    if args.seeds is not None:
        if args.seed is not None:
            raise AadError("give --seed S (one model) or --seeds S1,S2,... (several in one process), not both.")
        seeds = parse_seeds(args.seeds)
        paths = pipeline.train_seeds(_params(args), args.method, seeds, resume=not args.restart,
                                     batched=args.batched or "auto")
        print("\n".join(str(p) for p in paths))
        return
    if args.batched is not None:
        raise AadError("--batched chooses how the models of --seeds train; with one --seed there is one model.")
    params = _params(args)
    print(pipeline.train_method(params, args.method, args.seed if args.seed is not None else params.seed,
                                resume=not args.restart))


def _seeds_options(parser: argparse.ArgumentParser, folder: str, verb: str) -> None:
    """``--seeds`` and ``--batched`` of `aad train` and `aad evaluate` (each seed's results in ``folder``)."""
    parser.add_argument("--seeds", default=None, metavar="S1,S2,...",
                        help=f"several seeds of the method in one process, each to its own {folder} (as --seed S "
                             "would); one stack of models on CUDA")
    parser.add_argument("--batched", choices=["auto", "on", "off"], default=None,
                        help=f"with --seeds: {verb} the models as one stack (on), one after another (off), or stack "
                             "where it pays, on CUDA (auto, the default)")


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``: distinct integers >= 0, comma-separated (spaces allowed)."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise AadError(f"--seeds takes comma-separated integers, e.g. --seeds 0,1,2; got {text!r}.")
    bad = [item for item in items if not item.isdigit()]
    if bad:
        raise AadError(f"--seeds takes integers >= 0, e.g. --seeds 0,1,2; {', '.join(map(repr, bad))} "
                       f"{'is' if len(bad) == 1 else 'are'} not.")
    seeds = [int(item) for item in items]
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise AadError(f"--seeds names seed {', '.join(map(str, repeated))} more than once ({text!r}); each seed is "
                       "one model.")
    return seeds


def _cmd_train_purifier(args: argparse.Namespace) -> None:
    from .sections.compression import purifiers

    params = _params(args)
    seed = params.compression.comdefend.seeds[0] if args.seed is None else args.seed
    print(purifiers.train_purifier(params, args.variant, seed, resume=not args.restart))


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from . import pipeline

    params = _params(args)
    if args.checkpoint or args.weights or args.model:
        if args.method is not None:
            raise AadError("--method evaluates a model of the pipeline; --checkpoint or --model/--weights one outside it: "
                           "give one of them.")
        if args.seeds is not None or args.batched is not None:
            raise AadError("--seeds and --batched choose among a method's trained models; --checkpoint or --model/--weights "
                           "evaluates one model.")
        print(pipeline.evaluate_checkpoint(params, args.checkpoint, model_name=args.model, weights=args.weights,
                                           out=args.out))
        return
    if args.method is None:
        raise AadError("`aad evaluate` needs --method (a trained method), --checkpoint FILE or --model NAME --weights FILE.")
    if args.seeds is not None:
        if args.seed is not None:
            raise AadError("give --seed S (one model) or --seeds S1,S2,... (several in one process), not both.")
        paths = pipeline.evaluate_seeds(params, args.method, parse_seeds(args.seeds), batched=args.batched or "auto")
        print("\n".join(str(p) for p in paths))
        return
    if args.batched is not None:
        raise AadError("--batched chooses how the models of --seeds are evaluated; with one --seed there is one model.")
    print(pipeline.evaluate_method(params, args.method, args.seed if args.seed is not None else params.seed))


def _cmd_notebook(args: argparse.Namespace) -> None:
    from . import notebooks

    params = _params(args)
    out = params.reports.path / "notebooks"
    print(notebooks.run(args.name, out, {"params_path": args.params, "overrides": args.set}, progress=params.progress))


def _cmd_series(args: argparse.Namespace) -> None:
    from .site.series import write_series

    for path in write_series(_params(args).reports.path):
        print(path)


def _cmd_readme(args: argparse.Namespace) -> None:
    from .site.readme_block import sync_readme

    if not sync_readme(Path(args.readme), Path(args.results), check=args.check):
        raise AadError(f"{args.readme}'s results block differs from {args.results}: run `make readme` "
                       "(`aad readme`).")


def _cmd_rerun_check(args: argparse.Namespace) -> None:
    from .files import atomic_write_text
    from .site.rerun_check import OPPOSITE, report

    table, text = report(args.first, args.second)
    print(text, end="")
    if args.out:
        atomic_write_text(Path(args.out), text)
    if (table["move"] == OPPOSITE).any():
        raise AadError(f"{int((table['move'] == OPPOSITE).sum())} claim(s) flipped between holds and does not hold "
                       "(listed above): the two runs contradict each other.")


def _cmd_remote(args: argparse.Namespace) -> None:
    from .sharing import checked_remote

    name, url = checked_remote(".")  # opens the DVC repository once; an AadError naming the fix otherwise
    print(f"{name}: {url}")


def _cmd_site(args: argparse.Namespace) -> None:
    from .site.build import build_site

    params = _params(args)
    reports = params.reports.path
    out = build_site(reports, Path(args.out) if args.out else reports / "site", profile=params.profile,
                     arp_columns=[params.attention.pgd_column, params.attention.cw_column])
    print(out / "index.html")
    if args.screenshot:
        from .site.browser import screenshot

        print(screenshot(out / "index.html", out / "screenshot.png"))


def _cmd_profile(args: argparse.Namespace) -> None:
    if args.action == "list":
        print("\n".join(config.profile_names()))
    elif args.action == "show":
        print(config.load(args.params).get("profile", "?"))
    elif args.action == "new":
        _cmd_profile_new(args)
    else:
        if not args.name:
            raise AadError("`aad profile use` needs a profile name: " + ", ".join(config.profile_names()))
        print(f"params.yaml <- profiles/{args.name}.yaml ({config.use_profile(args.name)})")


def _cmd_profile_new(args: argparse.Namespace) -> None:
    from .profile_builder import new_profile

    if not args.name or not args.data:
        raise AadError("`aad profile new` needs a name and --data, e.g. "
                       "`aad profile new shapes --data folder:data/shapes`.")
    path, shape, scale = new_profile(args.name, args.data, extends=args.extends, model=args.model, size=args.size,
                                     eps=args.eps, alpha=args.alpha, steps=args.steps, force=args.force)
    print(f"{path}: {shape.spec}, {shape.channels}x{shape.size}x{shape.size}, {len(shape.classes)} classes, "
          f"{shape.n_train} train / {shape.n_test} test; eps {scale.eps:.4g} ({scale.source}). "
          f"Activate it with `aad profile use {args.name}`.")


def _cmd_plan(args: argparse.Namespace) -> None:
    from . import plan

    params = _params(args)
    rows, device = plan.project(params, repeats=args.repeats, progress=params.progress)
    print(f"aad plan: profile {params.profile}, {device}")
    print(plan.plan_table(rows).to_markdown(index=False))


def _cmd_bench(args: argparse.Namespace) -> None:
    """The benchmark suite lives in ``benchmarks/`` at the repository root, next to ``aad_lib``."""
    import importlib

    root = Path(__file__).resolve().parents[1]
    if not (root / "benchmarks" / "run.py").exists():
        raise AadError(f"{root / 'benchmarks'} not found: `aad bench` runs from a clone of the repository.")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    importlib.import_module("benchmarks.run").main(args.bench_args)


def _parser() -> argparse.ArgumentParser:
    from .training import recipes  # the help lists the recipe registry

    p = argparse.ArgumentParser(prog="aad", description="Attention- and compression-based adversarial defenses.")
    sub = p.add_subparsers(metavar="command")

    def with_params(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--params", default="params.yaml", help="parameter file (default: params.yaml)")
        sp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter, e.g. --set train.epochs=3 (repeatable)")
        return sp

    d = sub.add_parser("data", help="fetch raw data, prepare the split").add_subparsers(metavar="action")
    f = d.add_parser("fetch", help="write a dataset's raw files under data/ (mnist5k: offline)")
    f.add_argument("name", help="dataset: " + ", ".join(n for n in data.names() if n != "fake")
                   + ", or torchvision:<ClassName> (e.g. torchvision:FashionMNIST)")
    f.add_argument("--root", default="data")
    f.add_argument("--download", action="store_true", help="allow a network download (torchvision datasets)")
    f.set_defaults(run=_cmd_fetch)
    with_params(d.add_parser("prepare", help="materialise the configured train/test split")).set_defaults(run=_cmd_prepare)

    t = with_params(sub.add_parser("train", help="train one method (resumes from its last checkpoint)"))
    t.add_argument("--method", required=True, help="a recipe (" + ", ".join(sorted(recipes.classifier_recipes()))
                   + ") or a named variant of params.yaml's methods")
    t.add_argument("--seed", type=int, default=None, help="default: params seed")
    _seeds_options(t, "models/<method>/seed<S>/", "train")
    t.add_argument("--restart", action="store_true", help="ignore existing checkpoints")
    t.set_defaults(run=_cmd_train)

    tp = with_params(sub.add_parser("train-purifier", help="train one ComDefend variant on clean images (resumes)"))
    tp.add_argument("--variant", required=True, help="plain, res_encoder, res_decoder or res_both")
    tp.add_argument("--seed", type=int, default=None, help="the training run (default: the first of compression.comdefend.seeds)")
    tp.add_argument("--restart", action="store_true", help="ignore existing checkpoints")
    tp.set_defaults(run=_cmd_train_purifier)

    e = with_params(sub.add_parser("evaluate", help="robustness table row of one trained model"))
    e.add_argument("--method", help="a trained method (run.methods, run.extra_methods, ...)")
    e.add_argument("--seed", type=int, default=None)
    _seeds_options(e, "reports/eval/<method>-seed<S>/", "attack")
    e.add_argument("--checkpoint", help="instead: any model.pt the project wrote")
    e.add_argument("--model", help="instead: a model name (e.g. module:pkg.nets:make), with --weights")
    e.add_argument("--weights", help="the state_dict file of --model")
    e.add_argument("--out", help="where --checkpoint/--model results go (default reports/eval/checkpoint-<name>)")
    e.set_defaults(run=_cmd_evaluate)

    nb = with_params(sub.add_parser("notebook", help="execute a numbered notebook with papermill into reports/"))
    nb.add_argument("name", help="e.g. 03_adaptive_weighting")
    nb.set_defaults(run=_cmd_notebook)

    se = with_params(sub.add_parser("series", help="the comparable series (training curves, robust accuracy against "
                                    "attack steps) and the headline metrics under reports/plots/ and reports/metrics/"))
    se.set_defaults(run=_cmd_series)

    rd = sub.add_parser("readme", help="copy the run's generated results section (reports/results.md) into the "
                        "README between its markers")
    rd.add_argument("--readme", default="README.md")
    rd.add_argument("--results", default="reports/results.md")
    rd.add_argument("--check", action="store_true", help="only compare; fail when the README differs")
    rd.set_defaults(run=_cmd_readme)

    rc = sub.add_parser("rerun-check", help="compare the claim verdicts of two runs (two results folders or results.md "
                        "files): count the moves, fail on a claim that flips between holds and does not hold")
    rc.add_argument("first", help="a results folder (e.g. reports/) or its results.md")
    rc.add_argument("second", help="the other run's results folder or results.md")
    rc.add_argument("--out", help="also write the Markdown report to this file")
    rc.set_defaults(run=_cmd_rerun_check)

    rm = sub.add_parser("remote", help="check that `dvc pull` can fetch the committed run here (the default DVC "
                        "remote exists and holds files); say what fixes it when not")
    rm.set_defaults(run=_cmd_remote)

    st = with_params(sub.add_parser("site", help="render the run's report as a static site under reports/site/ "
                                    "(verdicts, manifest, one page per executed notebook)"))
    st.add_argument("--out", help="where the site goes (default: <reports.dir>/site)")
    st.add_argument("--screenshot", action="store_true",
                    help="also save a screenshot of the index as screenshot.png beside it (needs playwright and "
                         "Debian's chromium at /usr/bin/chromium, the test extra)")
    st.set_defaults(run=_cmd_site)

    pr = with_params(sub.add_parser("profile", help="list, show, switch or write (new) a parameter profile"))
    pr.add_argument("action", choices=["list", "show", "use", "new"])
    pr.add_argument("name", nargs="?")
    new = pr.add_argument_group("aad profile new NAME --data SPEC: a profile for a new dataset, sizes read from it")
    new.add_argument("--data", help="data.name of the new profile (mnist5k, torchvision:<Class>, folder:<path>, "
                     "npz:<path>)")
    new.add_argument("--model", help="model.name (default: the base profile's); checked on one image")
    new.add_argument("--size", type=int, default=0, help="resize images to size x size (default: as stored)")
    new.add_argument("--eps", type=float, help="L-inf radius (default by image scale: grey 0.3, colour 8/255, "
                     "large colour 4/255)")
    new.add_argument("--alpha", type=float, help="evaluation PGD step (default: by image scale, or eps / 4)")
    new.add_argument("--steps", type=int, help="PGD steps of adversarial training (default: the base's)")
    new.add_argument("--from", dest="extends", default="default", help="base profile (default: default)")
    new.add_argument("--force", action="store_true", help="overwrite an existing profile of that name")
    pr.set_defaults(run=_cmd_profile)
    pl = with_params(sub.add_parser("plan", help="project the wall time of `dvc repro` of the active profile on this "
                                    "device (times a few real steps of every stage kind)"))
    pl.add_argument("--repeats", type=int, default=3, help="timed repeats of each step (the least counts)")
    pl.set_defaults(run=_cmd_plan)
    # listed for `aad --help` only: main() hands `aad bench ...` to benchmarks/run.py before parsing
    sub.add_parser("bench", help="time attacks and training against the floor and the peers "
                                 "(`aad bench --help`; see benchmarks/)")
    return p


if __name__ == "__main__":
    raise SystemExit(main())
