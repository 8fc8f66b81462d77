"""ILSVRC validation XMLs -> boxes -> masks aligned with the resized images (ARP's ground truth).

The fixture is a miniature ILSVRC layout written into tmp_path: tiny JPEGs, their XMLs and a
synset list. Sizes are chosen so the 5x downscale is exact and mask areas can be counted by hand.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aad_lib.sections.arp.imagenet_boxes import (Annotation, Box, ImageNetBoxes, box_mask, load_val_with_boxes,
                                    parse_annotation, read_synsets)
from aad_lib.validation import AadError

SYNSETS = "n01440764 tench, Tinca tinca\nn01443537 goldfish, Carassius auratus\nn01751748 sea snake\n" \
          "n02086240 Shih-Tzu\n\n"

# Image 1 is 100 wide x 50 high with two overlapping boxes (1-based inclusive). Resized to
# 20 x 10 (scale 1/5 on both axes): box A covers original [0, 50) x [0, 25) -> [0, 10) x [0, 5),
# 50 pixels; box B covers [25, 75) x [10, 40) -> [5, 15) x [2, 8), 60 pixels; they overlap on
# [5, 10) x [2, 5), 15 pixels; union 50 + 60 - 15 = 95.
BOX_A = (1, 1, 50, 25)
BOX_B = (26, 11, 75, 40)
UNION_AREA = 95


def xml_text(filename: str, width: int, height: int, boxes: list[tuple[str, tuple[int, int, int, int]]]) -> str:
    objects = "".join(
        f"<object><name>{wnid}</name><pose>Unspecified</pose><truncated>0</truncated>"
        f"<difficult>0</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin><xmax>{b[2]}</xmax>"
        f"<ymax>{b[3]}</ymax></bndbox></object>" for wnid, b in boxes)
    return (f"<annotation><folder>val</folder><filename>{filename}</filename><source><database>ILSVRC_2012"
            f"</database></source><size><width>{width}</width><height>{height}</height><depth>3</depth>"
            f"</size><segmented>0</segmented>{objects}</annotation>")


def paint(width: int, height: int, boxes: list[tuple[int, int, int, int]]) -> Image.Image:
    """Black image, white inside the boxes (1-based inclusive), so alignment can be checked."""
    a = np.zeros((height, width, 3), np.uint8)
    for xmin, ymin, xmax, ymax in boxes:
        a[ymin - 1:ymax, xmin - 1:xmax] = 255
    return Image.fromarray(a)


@pytest.fixture
def ilsvrc(tmp_path: Path) -> dict[str, Path]:
    images, annotations = tmp_path / "val", tmp_path / "bbox_val"
    images.mkdir()
    annotations.mkdir()
    specs = {  # stem: (width, height, [(wnid, box)])
        "ILSVRC2012_val_00000001": (100, 50, [("n01751748", BOX_A), ("n01751748", BOX_B)]),
        "ILSVRC2012_val_00000002": (60, 40, [("n01440764", (6, 6, 30, 20))]),
        "ILSVRC2012_val_00000003": (40, 60, [("n02086240", (1, 1, 40, 60))]),
    }
    for stem, (w, h, boxes) in reversed(specs.items()):
        paint(w, h, [b for _, b in boxes]).save(images / f"{stem}.JPEG", quality=95)
        (annotations / f"{stem}.xml").write_text(xml_text(stem, w, h, boxes))
    synsets = tmp_path / "LOC_synset_mapping.txt"
    synsets.write_text(SYNSETS)
    return {"images": images, "annotations": annotations, "synsets": synsets}


def test_parse_annotation_reads_every_field(ilsvrc):
    ann = parse_annotation(ilsvrc["annotations"] / "ILSVRC2012_val_00000001.xml")
    assert ann == Annotation("ILSVRC2012_val_00000001", 100, 50,
                             [Box("n01751748", *BOX_A), Box("n01751748", *BOX_B)])


def test_mask_is_the_union_of_overlapping_boxes_after_resize(ilsvrc):
    ann = parse_annotation(ilsvrc["annotations"] / "ILSVRC2012_val_00000001.xml")
    mask = box_mask(ann, (10, 20))
    assert mask.shape == (10, 20) and mask.dtype == torch.bool
    assert int(mask.sum()) == UNION_AREA
    expected = torch.zeros(10, 20, dtype=torch.bool)
    expected[0:5, 0:10] = True
    expected[2:8, 5:15] = True
    assert torch.equal(mask, expected)


def test_boxes_are_one_based_inclusive_and_clamped():
    ann = Annotation("x", 8, 6, [Box("n01440764", 1, 1, 1, 1), Box("n01440764", 8, 6, 8, 6)])
    mask = box_mask(ann, (6, 8))  # identity size: the mask is the annotated pixels themselves
    assert mask.sum() == 2 and mask[0, 0] and mask[5, 7]
    whole = box_mask(Annotation("x", 8, 6, [Box("n01440764", 0, 1, 99, 6)]), 6)  # overshoot: clamp
    assert whole.shape == (6, 6) and whole.all()
    # A box thinner than one resized pixel keeps the pixel that holds its centre ([41, 43) -> 4.2).
    thin = box_mask(Annotation("x", 100, 100, [Box("n01440764", 42, 42, 43, 43)]), 10)
    assert thin.sum() == 1 and thin[4, 4]


def test_loader_labels_masks_order_and_alignment(ilsvrc):
    out = load_val_with_boxes(ilsvrc["images"], ilsvrc["annotations"], ilsvrc["synsets"], size=(10, 20))
    assert isinstance(out, ImageNetBoxes)
    x, y, masks, names = out
    assert names == ["ILSVRC2012_val_00000001", "ILSVRC2012_val_00000002", "ILSVRC2012_val_00000003"]
    assert y.dtype == torch.int64 and y.tolist() == [2, 0, 3]  # line order of the synset list
    assert x.shape == (3, 3, 10, 20) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert masks.shape == (3, 10, 20) and masks.dtype == torch.bool
    assert int(masks[0].sum()) == UNION_AREA and masks[2].all()
    # Same transform as stated: Pillow bilinear resize of the whole RGB image, no crop.
    with Image.open(ilsvrc["images"] / "ILSVRC2012_val_00000002.JPEG") as im:
        ref = np.asarray(im.convert("RGB").resize((20, 10), Image.Resampling.BILINEAR), np.float32) / 255
    assert torch.allclose(x[1], torch.from_numpy(ref).permute(2, 0, 1))
    # The white painted boxes land exactly on the mask after the resize.
    assert torch.equal(x[0].mean(0) > 0.5, masks[0])


def test_n_keeps_the_first_images_and_int_size_is_square(ilsvrc):
    x, y, masks, names = load_val_with_boxes(ilsvrc["images"], ilsvrc["annotations"], ilsvrc["synsets"],
                                             size=8, n=2)
    assert names == ["ILSVRC2012_val_00000001", "ILSVRC2012_val_00000002"]
    assert x.shape == (2, 3, 8, 8) and masks.shape == (2, 8, 8) and y.tolist() == [2, 0]
    with pytest.raises(AadError, match="n must be an integer >= 1"):
        load_val_with_boxes(ilsvrc["images"], ilsvrc["annotations"], ilsvrc["synsets"], n=0)


def test_read_synsets_order_and_bad_lines(tmp_path, ilsvrc):
    assert read_synsets(ilsvrc["synsets"]) == ["n01440764", "n01443537", "n01751748", "n02086240"]
    bad = tmp_path / "classes.txt"
    bad.write_text("n01440764\ntench\n")
    with pytest.raises(AadError, match=r"classes\.txt, line 2.*'tench'"):
        read_synsets(bad)
    bad.write_text("n01440764\nn01440764\n")
    with pytest.raises(AadError, match="appears on lines 1 and 2"):
        read_synsets(bad)


@pytest.mark.parametrize("text, message", [
    ("<annotation><size><width>10</width>", "not valid XML"),
    (xml_text("a", 10, 10, []), "has no <object>"),
    (xml_text("a", 10, 10, [("n01440764", (5, 1, 4, 3))]), "inverted box"),
    ("<annotation><size><width>10</width><height>ten</height></size></annotation>", "'ten'"),
    ("<annotation><object><name>n01440764</name></object></annotation>", "no <size>"),
])
def test_malformed_xml_names_the_file(tmp_path, text, message):
    path = tmp_path / "ILSVRC2012_val_00000009.xml"
    path.write_text(text)
    with pytest.raises(AadError, match=message) as err:
        parse_annotation(path)
    assert str(path) in str(err.value)


def test_missing_data_says_what_to_download(ilsvrc, tmp_path):
    missing = tmp_path / "nowhere"
    for args in [(missing, ilsvrc["annotations"], ilsvrc["synsets"]),
                 (ilsvrc["images"], missing, ilsvrc["synsets"]),
                 (ilsvrc["images"], ilsvrc["annotations"], missing / "synsets.txt")]:
        with pytest.raises(AadError, match="downloaded by you") as err:
            load_val_with_boxes(*args)
        assert str(missing) in str(err.value) and "ILSVRC2012" in str(err.value)
    (ilsvrc["annotations"] / "ILSVRC2012_val_00000002.xml").unlink()
    with pytest.raises(AadError, match="ILSVRC2012_val_00000002.xml"):
        load_val_with_boxes(ilsvrc["images"], ilsvrc["annotations"], ilsvrc["synsets"])


def test_unknown_wnid_and_size_mismatch_are_named(ilsvrc, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("n01440764\nn01443537\n")
    with pytest.raises(AadError, match=r"wnid 'n01751748' of .*ILSVRC2012_val_00000001\.xml") as err:
        load_val_with_boxes(ilsvrc["images"], ilsvrc["annotations"], short)
    assert str(short) in str(err.value)
    # An image resized on disk no longer matches its XML: the boxes would not line up.
    Image.new("RGB", (30, 20)).save(ilsvrc["images"] / "ILSVRC2012_val_00000001.JPEG")
    with pytest.raises(AadError, match="30x20 but .* says 100x50"):
        load_val_with_boxes(ilsvrc["images"], ilsvrc["annotations"], ilsvrc["synsets"], n=1)


def test_mask_equals_nearest_sampling_of_the_full_resolution_mask():
    """Any scale, not only exact ones: a resized pixel is in the mask iff its centre, mapped back
    exactly (rational arithmetic, ties go to the half-open pixel span), falls on a box pixel."""
    from fractions import Fraction

    rng = np.random.default_rng(0)
    for _ in range(40):
        W, H = (int(v) for v in rng.integers(20, 300, 2))
        h, w = (int(v) for v in rng.integers(5, 120, 2))
        x0, x1 = sorted(int(v) for v in rng.integers(1, W + 1, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(1, H + 1, 2))
        if (x1 - x0 + 1) * w < 2 * W or (y1 - y0 + 1) * h < 2 * H:
            continue  # thin boxes take the centre-pixel rule, tested above
        full = np.zeros((H, W), bool)
        full[y0 - 1:y1, x0 - 1:x1] = True
        rows = [int((Fraction(2 * j + 1, 2) * Fraction(H, h))) for j in range(h)]
        cols = [int((Fraction(2 * i + 1, 2) * Fraction(W, w))) for i in range(w)]
        expected = torch.from_numpy(full[np.ix_(rows, cols)])
        assert torch.equal(box_mask(Annotation("r", W, H, [Box("n01440764", x0, y0, x1, y1)]), (h, w)), expected)
