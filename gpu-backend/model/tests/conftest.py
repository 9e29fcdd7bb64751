"""Shared fixtures: small models and one exported tiny model directory per test session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The models here are tiny and the cores are shared: one thread each for PyTorch and ONNX
# Runtime avoids spin-waiting thread pools fighting over busy cores.
torch.set_num_threads(1)
os.environ.setdefault("GIGATOK_ORT_THREADS", "1")

from gigatok_model.configs import ar_config, tokenizer_config  # noqa: E402
from gigatok_model.export import export_model_dir, random_ar, random_tokenizer  # noqa: E402


@pytest.fixture(scope="session")
def tiny_cfgs():
    tc = tokenizer_config("tiny")
    return tc, ar_config("gpt-tiny", tc)


@pytest.fixture(scope="session")
def tiny_models(tiny_cfgs):
    tc, ac = tiny_cfgs
    return random_tokenizer(tc, 0), random_ar(ac, 0)


@pytest.fixture(scope="session")
def tiny_export(tiny_models, tmp_path_factory):
    tok, ar = tiny_models
    out = tmp_path_factory.mktemp("tiny-export")
    return export_model_dir(tok, ar, out, model_id="tiny-test", log=lambda *_: None)
