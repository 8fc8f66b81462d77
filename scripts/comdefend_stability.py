"""Why does ComDefend's grey-box accuracy swing between runs? For every trained (classifier seed,
purifier seed) pair of notebook 05's setting (run r: the classifier's seed r with each variant's seed
r), :func:`aad_lib.sections.compression.study.code_margins` on the notebook's test images and their
grey-box PGD images: how much of the code sits within reach of the threshold, how many bits the
attack flips, whether the purifier amplifies the perturbation, and the grey-box accuracy with the
trained test noise and with test_sigma 0 and 20 (the authors' PyTorch script keeps 20 at test).

After `dvc repro train_extra train_comdefend`: ``python scripts/comdefend_stability.py [--out FILE.md]``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from aad_lib import config
from aad_lib.attacks.columns import Column
from aad_lib.files import atomic_write_text
from aad_lib.pipeline import load_split, model_dir
from aad_lib.sections.compression import purifiers, study
from aad_lib.training import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", help="also write the table as Markdown here")
    args = parser.parse_args()
    params = config.load_params(args.params, [])
    c = params.compression
    x, y = load_split(params, "test").tensors(n=c.samples or None)
    s = study.CompressionAttacks.from_params(params)
    column = Column("PGD", s.attack.steps).name
    seed = params.evaluate.seed
    rows = {}
    for classifier_seed, purifier_seed in zip(params.run.seeds_of(c.classifier), c.comdefend.seeds):
        classifier = load_model(model_dir(c.classifier, classifier_seed) / "model.pt")
        x_adv = study.attack(column, classifier, x, y, s, seed)
        for variant in c.comdefend_variants:
            purifier = purifiers.load_purifier(params, variant, purifier_seed)
            rows[(variant, classifier_seed, purifier_seed)] = study.code_margins(classifier, purifier, x, y, x_adv,
                                                                                 c.draws, seed)
    table = pd.DataFrame(rows).T.rename_axis(["variant", "classifier seed", "ComDefend seed"])
    text = f"{column} grey-box images, {len(y)} test digits, eps {s.eps}\n\n" + table.to_markdown(floatfmt=".3g")
    print(text)
    if args.out:
        atomic_write_text(Path(args.out), text + "\n")


if __name__ == "__main__":
    main()
