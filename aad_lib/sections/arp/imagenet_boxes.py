"""ILSVRC2012 validation images with their bounding boxes, for the ARP attention analysis.

The ARP paper (Wu et al., "Attention, Please!", Sec. on attention completeness) compares each
image's Grad-CAM map with a ground-truth mask: the union of the bounding boxes in the image's
validation XML. This module reads those XMLs, turns them into masks aligned pixel-for-pixel with
the resized images, and loads ``(x, y, masks, names)`` ready for :mod:`aad_lib.attention`.

The data cannot be downloaded here (no network, and ImageNet needs a user account): the user
puts three things on disk and points :func:`load_val_with_boxes` at them,

- the 50,000 validation JPEGs (``ILSVRC2012_img_val.tar``; a flat folder, or the per-class
  sub-folders that ``valprep.sh`` makes; both work),
- the validation bounding-box XMLs (``ILSVRC2012_bbox_val_v3.tgz`` of the devkit, or Kaggle's
  ``ILSVRC/Annotations/CLS-LOC/val/``), one ``<image stem>.xml`` per image,
- a synset list giving the class order (Kaggle's ``LOC_synset_mapping.txt``, or any file with one
  wnid per line in the torchvision/timm ImageNet-1k order).

Geometry, stated once because masks and images must agree exactly: every image is resized as a
*whole* to ``size`` (no crop, aspect ratio not kept) with Pillow's bilinear filter, and every box is
mapped with the same per-axis scale. A crop (timm's resize-342-then-centre-crop-299) would cut
boxes and shift them; the whole-image resize keeps every annotated pixel, at the price of a small
aspect distortion that the classifier tolerates.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ...validation import AadError, check_count

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
WNID = re.compile(r"^n\d{8}$")  # WordNet noun ids as ImageNet writes them, e.g. n01751748

# Said by every "missing data" error: nothing here can fetch ImageNet, the user has to.
DATA_HELP = ("This ImageNet path needs data downloaded by you (this machine has no network and "
             "ImageNet needs an account at image-net.org): the ILSVRC2012 validation JPEGs "
             "(ILSVRC2012_img_val.tar), the validation bounding-box XMLs (ILSVRC2012_bbox_val_v3.tgz "
             "from the devkit, or Kaggle's ILSVRC/Annotations/CLS-LOC/val/) and a synset list with one "
             "wnid per line in class-index order (e.g. Kaggle's LOC_synset_mapping.txt).")


@dataclass(frozen=True)
class Box:
    """One annotated object: its WordNet id and its box in ILSVRC's 1-based inclusive pixel
    coordinates of the original image (``xmin = 1`` is the leftmost column, ``xmax = width`` the
    rightmost; a box covers ``xmax - xmin + 1`` columns)."""

    wnid: str
    xmin: int
    ymin: int
    xmax: int
    ymax: int


@dataclass(frozen=True)
class Annotation:
    """The parts of an ILSVRC (PASCAL-VOC-style) XML the ARP analysis uses."""

    filename: str
    width: int
    height: int
    boxes: list[Box] = field(default_factory=list)


# ---------------------------------------------------------------- parsing

def _text(node: ET.Element, tag: str, path: Path) -> str:
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise AadError(f"annotation {path} is malformed: <{node.tag}> has no <{tag}> value. Expected "
                       "an ILSVRC bounding-box XML (<annotation><size><width>..., <object><name>wnid"
                       "</name><bndbox><xmin>...).")
    return child.text.strip()


def _int(node: ET.Element, tag: str, path: Path) -> int:
    text = _text(node, tag, path)
    try:
        return int(text)
    except ValueError:
        # A few hand-made XMLs write "12.0"; accept integral floats, refuse anything else.
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if value.is_integer():
            return int(value)
        raise AadError(f"annotation {path} is malformed: <{tag}> must be an integer pixel "
                       f"coordinate, got {text!r}.") from None


def parse_annotation(path: str | Path) -> Annotation:
    """Read one ILSVRC validation XML: file name, image size and every ``<object>``'s wnid and box.

    Raises :class:`AadError` naming ``path`` when the file is missing, is not XML, lacks a field,
    has no object, or has an inverted box (``xmax < xmin``).
    """
    path = Path(path)
    if not path.is_file():
        raise AadError(f"annotation file {path} does not exist. {DATA_HELP}")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise AadError(f"annotation {path} is not valid XML ({err}); re-extract the bounding-box "
                       "archive.") from err
    if root.tag != "annotation":
        raise AadError(f"annotation {path} has root <{root.tag}>, expected <annotation> "
                       "(an ILSVRC/PASCAL-VOC bounding-box XML).")
    size = root.find("size")
    if size is None:
        raise AadError(f"annotation {path} is malformed: no <size> element.")
    width, height = _int(size, "width", path), _int(size, "height", path)
    if width < 1 or height < 1:
        raise AadError(f"annotation {path} gives image size {width}x{height}; both must be >= 1.")
    boxes = []
    for obj in root.findall("object"):
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise AadError(f"annotation {path} is malformed: an <object> has no <bndbox>.")
        box = Box(_text(obj, "name", path), *(_int(bndbox, t, path) for t in ("xmin", "ymin", "xmax", "ymax")))
        if box.xmax < box.xmin or box.ymax < box.ymin:
            raise AadError(f"annotation {path} has an inverted box {box}: need xmin <= xmax and "
                           "ymin <= ymax.")
        boxes.append(box)
    if not boxes:
        raise AadError(f"annotation {path} has no <object>: every ILSVRC validation image has at "
                       "least one box, so this file is truncated or not a validation XML.")
    filename = root.findtext("filename", default="").strip() or path.stem
    return Annotation(filename, width, height, boxes)


# ---------------------------------------------------------------- masks

def _pair(size: int | tuple[int, int], name: str = "size") -> tuple[int, int]:
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    if (not isinstance(size, (tuple, list)) or len(size) != 2
            or any(not isinstance(s, int) or isinstance(s, bool) or s < 1 for s in size)):
        raise AadError(f"{name} must be a positive int or a (height, width) pair of positive ints, "
                       f"got {size!r}.")
    return int(size[0]), int(size[1])


def _covered(lo: int, hi: int, original: int, resized: int) -> tuple[int, int]:
    """Resized pixel range ``[start, stop)`` for original 1-based inclusive pixels ``lo..hi``.

    In continuous coordinates (pixel ``k``, 0-based, spans ``[k, k+1)``) the box spans
    ``[lo - 1, hi)``. A resized pixel ``j`` belongs to the box when its centre ``j + 0.5``, mapped
    back by ``original / resized``, lies inside: nearest-neighbour resizing of the full-resolution
    mask. Integer arithmetic decides a centre that falls exactly on a box edge by the half-open
    span (Pillow's float NEAREST can round such ties either way).
    """
    lo, hi = max(lo, 1), min(hi, original)  # a few boxes touch 0 or overshoot the border: clamp
    if hi < lo:
        return 0, 0
    # j >= (lo - 1) * resized / original - 0.5   <=>   j >= ceil((2 (lo-1) resized - original) / (2 original))
    start = -((original - 2 * (lo - 1) * resized) // (2 * original))
    stop = -((original - 2 * hi * resized) // (2 * original))
    start, stop = max(start, 0), min(stop, resized)
    if stop <= start:
        # A box thinner than one resized pixel would vanish; keep the pixel holding its centre so
        # that every annotated object still counts in the mask area (ARP's top-N uses that area).
        centre = min(int((lo - 1 + hi) * resized / (2 * original)), resized - 1)
        start, stop = centre, centre + 1
    return start, stop


def box_mask(annotation: Annotation, size: int | tuple[int, int]) -> torch.Tensor:
    """Ground-truth mask of ARP's completeness metric: the union of all boxes, as a bool
    ``(height, width)`` tensor aligned with the image resized as a whole to ``size``.

    ``size`` is ``(height, width)`` (torch order) or one int for a square. Boxes are taken as
    1-based inclusive pixel coordinates of the ``annotation.width x annotation.height`` original,
    scaled per axis like the image (no crop). Coordinates outside the image are clamped.
    """
    height, width = _pair(size)
    mask = torch.zeros(height, width, dtype=torch.bool)
    for box in annotation.boxes:
        y0, y1 = _covered(box.ymin, box.ymax, annotation.height, height)
        x0, x1 = _covered(box.xmin, box.xmax, annotation.width, width)
        mask[y0:y1, x0:x1] = True
    return mask


# ---------------------------------------------------------------- synsets

def read_synsets(path: str | Path) -> list[str]:
    """Class-index order of ImageNet-1k: line ``i`` (0-based) of ``path`` starts with the wnid of
    class ``i``, optionally followed by its words (``n01440764 tench, Tinca tinca``), the order
    torchvision and timm use. Trailing blank lines are ignored; other blank lines, lines that do not
    start with a wnid and repeated wnids raise :class:`AadError` naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise AadError(f"synset list {path} does not exist. {DATA_HELP}")
    lines = path.read_text(encoding="utf-8").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    wnids: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        parts = line.split(maxsplit=1)
        if not parts or not WNID.match(parts[0]):
            raise AadError(f"synset list {path}, line {number}: expected a wnid such as 'n01440764' "
                           f"first (one class per line, line order = class index), got {line!r}.")
        if parts[0] in seen:
            raise AadError(f"synset list {path}: wnid {parts[0]} appears on lines {seen[parts[0]]} and "
                           f"{number}; each class must appear once.")
        seen[parts[0]] = number
        wnids.append(parts[0])
    if not wnids:
        raise AadError(f"synset list {path} is empty. {DATA_HELP}")
    return wnids


# ---------------------------------------------------------------- loader

class ImageNetBoxes(NamedTuple):
    """What :func:`load_val_with_boxes` returns; unpacks as ``x, y, masks, names = ...``."""

    x: torch.Tensor          # float (N, 3, H, W) in [0, 1]
    y: torch.Tensor          # int64 (N,), class index in the synset list
    masks: torch.Tensor      # bool (N, H, W), union of the boxes, aligned with x
    names: list[str]         # image stems, e.g. ILSVRC2012_val_00000001


def _existing_dir(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise AadError(f"{what} folder {path} does not exist. {DATA_HELP}")
    return path


def _list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively: flat or per-class layout), sorted by file name."""
    found: dict[str, Path] = {}
    for p in folder.rglob("*"):
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            if p.stem in found:
                raise AadError(f"two images share the name {p.stem!r}: {found[p.stem]} and {p}; "
                               "each validation image must appear once.")
            found[p.stem] = p
    if not found:
        raise AadError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {folder}. {DATA_HELP}")
    return [found[k] for k in sorted(found)]


def _read_image(path: Path, annotation: Annotation, xml: Path, size: tuple[int, int]) -> torch.Tensor:
    try:
        with Image.open(path) as im:
            if im.size != (annotation.width, annotation.height):
                # The mask is scaled from the XML's size; a different image size would misalign it.
                raise AadError(f"image {path} is {im.size[0]}x{im.size[1]} but {xml} says "
                               f"{annotation.width}x{annotation.height}; the boxes would not line up. "
                               "Use the original, unresized validation JPEGs.")
            # Pillow's bilinear widens its kernel when shrinking (antialiased), like torchvision's
            # Resize(antialias=True); PIL sizes are (width, height).
            rgb = im.convert("RGB").resize((size[1], size[0]), Image.Resampling.BILINEAR)
    except (UnidentifiedImageError, OSError) as err:
        raise AadError(f"cannot read image {path} ({err}); re-extract the validation archive.") from err
    return torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1)


def load_val_with_boxes(images_dir: str | Path, annotations_dir: str | Path, synsets_file: str | Path,
                        size: int | tuple[int, int] = 299, n: int | None = None,
                        ) -> ImageNetBoxes:
    """Load ILSVRC2012 validation images with ARP's ground-truth masks (union of boxes).

    Images under ``images_dir`` are sorted by file name and the first ``n`` (default all) kept;
    each needs ``annotations_dir/<stem>.xml``. Returns an :class:`ImageNetBoxes`: ``x`` float
    ``(N, 3, H, W)`` in [0, 1] (whole image resized bilinearly to ``size``, an int or
    ``(height, width)``; no normalisation: that lives in the model), ``y`` int64 ``(N,)`` = index
    in ``synsets_file`` of the first box's wnid, ``masks`` bool ``(N, H, W)`` from
    :func:`box_mask`, and ``names`` the image stems (``ILSVRC2012_val_00000001``). All 50,000
    images at 299 px would take 54 GB as floats: pass ``n``.
    """
    images_dir = _existing_dir(images_dir, "ILSVRC2012 validation image")
    annotations_dir = _existing_dir(annotations_dir, "bounding-box annotation (XML)")
    synsets = read_synsets(synsets_file)
    index = {wnid: i for i, wnid in enumerate(synsets)}
    hw = _pair(size)
    paths = _list_images(images_dir)
    if n is not None:
        paths = paths[:check_count(n, "n", 1)]

    images, labels, masks, names = [], [], [], []
    for path in paths:
        xml = annotations_dir / f"{path.stem}.xml"
        if not xml.is_file():
            raise AadError(f"no bounding-box XML {xml} for image {path}. {DATA_HELP}")
        annotation = parse_annotation(xml)
        wnid = annotation.boxes[0].wnid
        if wnid not in index:
            raise AadError(f"wnid {wnid!r} of {xml} is not in the synset list {synsets_file} "
                           f"({len(synsets)} classes); use the ImageNet-1k list the model was trained on.")
        images.append(_read_image(path, annotation, xml, hw))
        labels.append(index[wnid])
        masks.append(box_mask(annotation, hw))
        names.append(path.stem)
    x = torch.stack(images).float().div_(255.0)
    return ImageNetBoxes(x, torch.tensor(labels, dtype=torch.int64), torch.stack(masks), names)
