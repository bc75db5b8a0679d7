"""``examples/lerobot_train.py``, the recipe's complete training script, run on a dataset it writes to disk.

The script records a small ``LeRobotDataset`` (``create`` / ``add_frame`` / ``save_episode`` /
``finalize``) under ``tmp_path``, loads it with ``delta_timestamps``, normalises with LeRobot's
processors and trains a state-only Diffusion Policy ambiently for a few steps. It runs in a fresh
interpreter with the Hugging Face libraries offline and their caches under ``tmp_path``: nothing is
downloaded and nothing is written elsewhere.
"""

from __future__ import annotations

import ast
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

lerobot = pytest.importorskip("lerobot")

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "examples" / "lerobot_train.py"
RECIPE = ROOT / "docs" / "recipes" / "lerobot.md"


def _run(*args: str, home: Path) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "HF_HOME": str(home),
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_training_script_trains_on_a_dataset_written_to_disk(tmp_path):
    root = tmp_path / "ambient_circles"
    out = _run("--root", str(root), "--steps", "4", "--batch-size", "16", home=tmp_path / "hf")
    # the dataset is on disk, in LeRobot's layout
    assert (root / "meta" / "info.json").is_file()
    assert list((root / "data").rglob("*.parquet"))
    # batches carry the delta_timestamps windows: n_obs_steps = 2 observations, horizon = 16 actions
    shapes = re.search(r"batch: (\{.*\}), ambient rows (\d+)/16", out)
    assert shapes, out
    assert ast.literal_eval(shapes[1]) == {
        "observation.state": (16, 2, 4),
        "action": (16, 16, 2),
        "action_is_pad": (16, 16),
    }
    assert 0 < int(shapes[2]) < 16, out  # seeded: the first batch mixes clean and low-quality rows
    losses = [float(v) for v in re.findall(r"step \d+: loss (\S+)", out)]
    assert len(losses) == 4, out
    assert all(math.isfinite(v) and v > 0 for v in losses), out


def test_the_recipe_page_includes_the_script_and_its_ambient_lines():
    page = RECIPE.read_text()
    assert '--8<-- "examples/lerobot_train.py"' in page
    assert '--8<-- "examples/lerobot_train.py:ambient"' in page
    assert '--8<-- "examples/lerobot_train.py:step"' in page
    text = SCRIPT.read_text()
    for section in ("ambient", "step"):
        assert f"# --8<-- [start:{section}]" in text
        assert f"# --8<-- [end:{section}]" in text


def test_a_state_only_policy_needs_the_environment_state_as_the_recipe_says():
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
    from lerobot_common import config

    cfg = config()
    cfg.input_features = {"observation.state": cfg.input_features["observation.state"]}
    assert cfg.input_features == {"observation.state": PolicyFeature(FeatureType.STATE, (4,))}
    message = "You must provide at least one image or the environment state among the inputs"
    with pytest.raises(ValueError, match=message):
        DiffusionPolicy(cfg)
    assert message in RECIPE.read_text()
