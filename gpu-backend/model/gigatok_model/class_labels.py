"""Class labels of a model directory: read from --class-labels, the ImageNet-1k names shipped in
gigatok_model/data/ for 1000-class models, or "class N" placeholders otherwise.

`python -m gigatok_model.class_labels TORCHVISION_WHEEL` regenerates the shipped ImageNet-1k list
from the category list of a torchvision wheel (torchvision/models/_meta.py, BSD licence), read as
text and parsed with `ast`, so the wheel need not import (see gigatok_model/data/README.md).
"""

from __future__ import annotations

import ast
import json
import sys
import zipfile
from pathlib import Path

IMAGENET1K_LABELS_FILE = Path(__file__).parent / "data" / "imagenet1k_labels.txt"
IMAGENET1K_CLASSES = 1000
_META_PATH = "torchvision/models/_meta.py"
_META_NAME = "_IMAGENET_CATEGORIES"


def imagenet1k_labels() -> list[str]:
    """The 1000 ImageNet-1k class names in class-id order (line i = class i)."""
    labels = IMAGENET1K_LABELS_FILE.read_text(encoding="utf-8").splitlines()
    if len(labels) != IMAGENET1K_CLASSES:
        raise RuntimeError(f"{IMAGENET1K_LABELS_FILE}: {len(labels)} lines, expected {IMAGENET1K_CLASSES}")
    return labels


def placeholder_labels(num_classes: int) -> list[str]:
    return [f"class {i}" for i in range(num_classes)]


def default_class_labels(num_classes: int) -> tuple[list[str], str]:
    """Labels for a model exported without --class-labels, and where they came from: the ImageNet-1k
    names for 1000 classes (every official GigaTok/LlamaGen class-conditional GPT), else placeholders."""
    if num_classes == IMAGENET1K_CLASSES:
        return imagenet1k_labels(), "imagenet-1k"
    return placeholder_labels(num_classes), "placeholder"


def read_class_labels(path: str | None, num_classes: int) -> list[str]:
    """The labels of `path` (a JSON array of strings, or one label a line), or the defaults."""
    if path is None:
        return default_class_labels(num_classes)[0]
    text = Path(path).read_text(encoding="utf-8")
    labels = json.loads(text) if path.endswith(".json") else [ln for ln in text.splitlines() if ln.strip()]
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise SystemExit(f"--class-labels {path}: expected a JSON array of strings or one label a line")
    if len(labels) != num_classes:
        raise SystemExit(f"--class-labels {path}: {len(labels)} labels for {num_classes} classes")
    return [x.strip() for x in labels]


def categories_from_meta_source(source: str) -> list[str]:
    """The `_IMAGENET_CATEGORIES` list literal of torchvision's _meta.py source text."""
    for node in ast.parse(source).body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == _META_NAME
        ):
            labels = ast.literal_eval(node.value)
            if len(labels) != IMAGENET1K_CLASSES or not all(isinstance(x, str) and x.strip() for x in labels):
                raise ValueError(f"{_META_NAME}: expected {IMAGENET1K_CLASSES} non-empty strings")
            return labels
    raise ValueError(f"no {_META_NAME} assignment in the source")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m gigatok_model.class_labels TORCHVISION_WHEEL_OR_META_PY", file=sys.stderr)
        return 2
    src = Path(args[0])
    if src.suffix == ".whl":
        with zipfile.ZipFile(src) as wheel:
            text = wheel.read(_META_PATH).decode("utf-8")
    else:
        text = src.read_text(encoding="utf-8")
    labels = categories_from_meta_source(text)
    IMAGENET1K_LABELS_FILE.write_text("\n".join(labels) + "\n", encoding="utf-8")
    print(f"wrote {len(labels)} labels to {IMAGENET1K_LABELS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
