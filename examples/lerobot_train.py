"""Ambient training of LeRobot's Diffusion Policy on a ``LeRobotDataset`` written to disk (lerobot 0.4.4).

A complete, minimal LeRobot training script with the three lines that make it ambient (marked ``+``):

1. a small dataset is recorded with ``LeRobotDataset.create``, ``add_frame``, ``save_episode`` and
   ``finalize`` (6 episodes of a circle-tracing task; episodes 2 to 5 are jittery, low-quality ones);
2. the policy is a state-only Diffusion Policy built by ``make_policy`` from the dataset's features.
   A Diffusion Policy needs an image or ``"observation.environment_state"`` among its inputs (LeRobot
   raises "You must provide at least one image or the environment state among the inputs" otherwise),
   so the dataset records one;
3. the dataset is loaded with the ``delta_timestamps`` the policy asks for
   (``resolve_delta_timestamps``: ``n_obs_steps`` observations, ``horizon`` actions and their
   ``action_is_pad``), and batches go through LeRobot's processors (``make_pre_post_processors``,
   normalising with the dataset's statistics);
4. ``make_ambient(policy)`` (+), one ``Annotations`` table of trusted levels per episode (+) and
   ``batch = annotate(batch)`` after the preprocessor (+); then ``policy.forward`` returns the ambient
   loss and a few optimiser steps run.

Runs on a CPU, offline, in about 15 s (20 steps, one thread): ``python examples/lerobot_train.py --steps 20``.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
from lerobot.datasets.factory import resolve_delta_timestamps
from lerobot.datasets.lerobot_dataset import LeRobotDataset, LeRobotDatasetMetadata
from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig
from lerobot.policies.factory import make_policy, make_pre_post_processors

from ambientloss.adapters.lerobot import Annotations, make_ambient, schedule_of

REPO_ID = "local/ambient_circles"  # a local dataset: nothing is pushed or pulled
FPS, EPISODES, FRAMES = 10, 6, 30
BAD_EPISODES = (2, 3, 4, 5)
T_MIN = 30  # the bad episodes are trusted from timestep 30 (of the policy's 100) up


def record_dataset(root: Path) -> LeRobotDataset:
    """Write the toy dataset to ``root``: state, environment state and a 2-D action per frame."""
    features = {
        "observation.state": {"dtype": "float32", "shape": (4,), "names": None},
        "observation.environment_state": {"dtype": "float32", "shape": (6,), "names": None},
        "action": {"dtype": "float32", "shape": (2,), "names": None},
    }
    dataset = LeRobotDataset.create(REPO_ID, fps=FPS, features=features, root=root, use_videos=False)
    for episode in range(EPISODES):
        jitter = 0.3 if episode in BAD_EPISODES else 0.0
        for k in range(FRAMES):
            angle = 0.7 * episode + 0.2 * k
            position = np.array([math.cos(angle), math.sin(angle)], dtype=np.float32)
            action = np.array([math.cos(angle + 0.2), math.sin(angle + 0.2)], dtype=np.float32)
            action += jitter * np.sin(37.0 * angle + np.arange(2, dtype=np.float32))
            dataset.add_frame(
                {
                    "observation.state": np.concatenate([position, [0.0, 1.0]]).astype(np.float32),
                    "observation.environment_state": np.concatenate([position, 0.5 * position, [0, 1]]).astype(
                        np.float32
                    ),
                    "action": action.astype(np.float32),
                    "task": "trace a circle",
                }
            )
        dataset.save_episode()
    dataset.finalize()
    return dataset


def main(root: Path, steps: int = 20, batch_size: int = 16, seed: int = 0) -> list[float]:
    """Record the dataset under ``root`` (unless it is there), train ``steps`` steps; returns the losses."""
    torch.manual_seed(seed)
    if not (root / "meta" / "info.json").exists():
        record_dataset(root)
    meta = LeRobotDatasetMetadata(REPO_ID, root=root)
    cfg = DiffusionConfig(n_obs_steps=2, horizon=16, n_action_steps=8, down_dims=(32, 64), device="cpu")
    policy = make_policy(cfg, ds_meta=meta)  # input and output features from the dataset's
    dataset = LeRobotDataset(REPO_ID, root=root, delta_timestamps=resolve_delta_timestamps(cfg, meta))
    preprocessor, _postprocessor = make_pre_post_processors(cfg, dataset_stats=dataset.meta.stats)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)
    optimizer = torch.optim.AdamW(policy.get_optim_params(), lr=1e-3)

    # --8<-- [start:ambient]
    make_ambient(policy)  # + policy.forward(batch) returns the ambient loss
    level = schedule_of(policy).sigma_for_timestep(torch.tensor(T_MIN), dtype=torch.float64).item()
    levels = {e: level if e in BAD_EPISODES else 0.0 for e in range(meta.total_episodes)}
    annotate = Annotations(levels, by="episode", seed=seed)  # + sigma_min per episode, 0 = clean
    # --8<-- [end:ambient]

    policy.train()
    losses: list[float] = []
    while len(losses) < steps:
        for batch in loader:
            # --8<-- [start:step]
            batch = preprocessor(batch)  # normalises; drops the keys it does not know
            batch = annotate(batch)  # + after the preprocessor: x_tmin is built from normalised actions
            loss, _ = policy.forward(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            # --8<-- [end:step]
            losses.append(loss.item())
            if len(losses) == 1:
                shapes = {k: tuple(batch[k].shape) for k in ("observation.state", "action", "action_is_pad")}
                ambient = int((batch["ambient.sigma_min"] > 0).sum())
                print(f"batch: {shapes}, ambient rows {ambient}/{batch_size}")
            print(f"step {len(losses)}: loss {losses[-1]:.4f}")
            if len(losses) == steps:
                break
    return losses


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None, help="dataset folder (default: a temporary one)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        main(args.root or Path(tmp) / "ambient_circles", steps=args.steps, batch_size=args.batch_size)
