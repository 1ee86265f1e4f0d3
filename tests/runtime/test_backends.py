"""The backend table, and what a missing OpenVINO extra means to `auto` and to a named engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from caffebatch.runtime.backends import BACKENDS, Backend, cpu_has_bf16, engine_names, register

ROOT = Path(__file__).parents[2]
LENET = ROOT / "examples" / "lenet"
DIGITS = ROOT / "examples" / "digits" / "inputs"
# sys.modules[name] = None is how Python blocks an import: as if the extra were absent
WITHOUT_OPENVINO = "import sys; sys.modules['openvino'] = None; from caffebatch.cli import main; main()"


def test_the_table_refuses_a_second_backend_of_the_same_name():
    with pytest.raises(ValueError, match="already registered"):
        register(Backend("onnxruntime", "onnxruntime", "", ("f32",), BACKENDS["onnxruntime"].open))
    assert engine_names() == ["auto", "onnxruntime", "openvino"]


def test_bf16_needs_amx_or_avx512_bf16():
    assert cpu_has_bf16(["fpu", "avx512f", "avx512_bf16"])
    assert cpu_has_bf16(["amx_bf16", "amx_tile"])
    assert not cpu_has_bf16(["fpu", "avx512f", "avx2"])


def without_openvino(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_OPENVINO, *args],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_without_the_extra_auto_means_onnx_runtime(tmp_path):
    done = without_openvino("score", str(LENET), "--input", str(DIGITS),
                            "--output", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "engine: onnxruntime\n" in done.stderr  # nothing measured
    assert "SUCCESS: 360 scored" in done.stdout


def test_without_the_extra_naming_openvino_says_how_to_install_it(tmp_path):
    done = without_openvino("score", str(LENET), "--input", str(DIGITS),
                            "--output", str(tmp_path / "out"), "--engine", "openvino")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "pip install 'caffebatch[openvino]'" in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_service_setting_names_auto_or_a_backend():
    from pydantic import ValidationError

    from caffebatch.settings import Settings

    assert Settings().engine == "auto"
    assert Settings(engine="openvino").engine == "openvino"
    with pytest.raises(ValidationError, match="expected one of"):
        Settings(engine="tensorrt")


def test_the_service_precision_is_f32_unless_bf16_is_asked_for_where_the_cpu_has_it():
    from pydantic import ValidationError

    from caffebatch.settings import Settings

    assert Settings().precision == "f32"
    with pytest.raises(ValidationError, match="expected 'f32' or 'bf16'"):
        Settings(precision="fp16")
    if cpu_has_bf16():
        assert Settings(precision="bf16").precision == "bf16"
    else:
        with pytest.raises(ValidationError, match="AMX or AVX512-BF16"):
            Settings(precision="bf16")


def test_without_the_extra_bf16_says_which_backend_offers_it(tmp_path):
    done = without_openvino("score", str(LENET), "--input", str(DIGITS),
                            "--output", str(tmp_path / "out"), "--precision", "bf16")
    assert done.returncode == 2, done.stdout + done.stderr
    expected = ("pip install 'caffebatch[openvino]'" if cpu_has_bf16()
                else "needs a CPU with AMX or AVX512-BF16")
    assert expected in done.stderr
    assert not (tmp_path / "out").exists()
