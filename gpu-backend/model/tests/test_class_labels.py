"""Class labels: the shipped ImageNet-1k names, their regeneration from torchvision's source text,
and the export's default (ImageNet names for 1000 classes, "class N" otherwise, --class-labels wins)."""

import hashlib
import json

import pytest

from gigatok_model.class_labels import (
    IMAGENET1K_LABELS_FILE,
    categories_from_meta_source,
    default_class_labels,
    imagenet1k_labels,
)
from gigatok_model.export import main

# The digest data/README.md states for the committed file.
LABELS_SHA256 = "ee4fa67b1dd46919ef87529b70e25bdd1ec9ebd350de3ad426e6640eb70320a1"


def test_the_shipped_imagenet_labels_are_the_1000_names_in_class_id_order():
    assert hashlib.sha256(IMAGENET1K_LABELS_FILE.read_bytes()).hexdigest() == LABELS_SHA256
    labels = imagenet1k_labels()
    assert len(labels) == 1000
    assert (labels[0], labels[1], labels[207], labels[281], labels[999]) == (
        "tench",
        "goldfish",
        "golden retriever",
        "tabby",
        "toilet tissue",
    )
    assert all(x and x == x.strip() and len(x) <= 200 for x in labels)
    # The one pair that differs only in case: the Welsh corgi and the sweater.
    lowered = [x.lower() for x in labels]
    assert [i for i, x in enumerate(lowered) if lowered.count(x) > 1] == [264, 474]
    assert len(set(labels)) == 1000


def test_categories_are_read_from_the_meta_source_without_importing_it():
    names = [f"name {i}" for i in range(1000)]
    source = f"'''doc'''\nimport torch\n_OTHER = ['x']\n_IMAGENET_CATEGORIES = {names!r}\n_COCO_CATEGORIES = ['a']\n"
    assert categories_from_meta_source(source) == names
    with pytest.raises(ValueError, match="1000 non-empty strings"):
        categories_from_meta_source("_IMAGENET_CATEGORIES = ['a', 'b']\n")
    with pytest.raises(ValueError, match="no _IMAGENET_CATEGORIES"):
        categories_from_meta_source("_COCO_CATEGORIES = ['a']\n")


def test_default_labels_are_imagenet_names_for_1000_classes_and_placeholders_otherwise():
    assert default_class_labels(1000) == (imagenet1k_labels(), "imagenet-1k")
    assert default_class_labels(3) == (["class 0", "class 1", "class 2"], "placeholder")


def export_argv(out, *extra):
    return [
        "--tokenizer-config", "tiny", "--ar-config", "gpt-tiny", "--random-init", "--out", str(out),
        "--no-generate-graph", "--no-embed-graph", *extra,
    ]  # fmt: skip


def test_a_1000_class_export_writes_the_imagenet_names_unless_labels_are_given(tmp_path, capsys):
    out = tmp_path / "model"
    assert main(export_argv(out, "--num-classes", "1000")) == 0
    assert "class labels: imagenet-1k (1000)" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["class_labels"] == imagenet1k_labels()
    assert "source" not in manifest  # random weights come from no checkpoint
    custom = tmp_path / "labels.json"
    custom.write_text(json.dumps([f"kind {i}" for i in range(1000)]))
    assert main(export_argv(out, "--num-classes", "1000", "--class-labels", str(custom))) == 0
    assert json.loads((out / "manifest.json").read_text())["class_labels"][207] == "kind 207"
    assert main(export_argv(out)) == 0  # gpt-tiny: 4 classes
    assert json.loads((out / "manifest.json").read_text())["class_labels"] == [f"class {i}" for i in range(4)]
