"""Streaming annotation: atomic chunks, verified resume, kill-and-resume byte identity, bad input."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ambientloss.annotation import MANIFEST, RESULT, annotate_stream
from ambientloss.annotation import _streaming as streaming

ROWS, N_BATCHES, CONFIG = 5, 9, {"rule": "monotone", "eps": 0.05, "seed": 3}

# The per-batch function of these tests: pure, with per-sample noise seeded by the sample's id.
JOB = textwrap.dedent(
    """
    import numpy as np

    ROWS, N_BATCHES, CONFIG = 5, 9, {"rule": "monotone", "eps": 0.05, "seed": 3}

    def make_batches():
        x = np.random.default_rng(0).normal(size=(ROWS * N_BATCHES, 3))
        ids = np.arange(ROWS * N_BATCHES)
        return [{"id": ids[i:i + ROWS], "x": x[i:i + ROWS]} for i in range(0, len(ids), ROWS)]

    def fn(batch):
        noise = np.array([np.random.default_rng([3, int(i)]).normal() for i in batch["id"]])
        return np.abs(batch["x"]).sum(axis=1) + 0.1 * noise
    """
)
namespace: dict = {}
exec(JOB, namespace)
make_batches, fn = namespace["make_batches"], namespace["fn"]


def run(out, batches=None, f=fn, **kwargs):
    kwargs = {"config": CONFIG, "batches_per_chunk": 2, "progress": False, **kwargs}
    return annotate_stream(make_batches() if batches is None else batches, f, out_dir=out, **kwargs)


@pytest.fixture
def reference(tmp_path) -> bytes:
    """The bytes of an uninterrupted run."""
    run(tmp_path / "reference")
    return (tmp_path / "reference" / RESULT).read_bytes()


def test_uninterrupted_run_writes_the_values_of_fn_and_a_manifest(tmp_path):
    result = run(tmp_path / "out")
    expected = np.concatenate([fn(b) for b in make_batches()])
    np.testing.assert_array_equal(result.values, expected)
    np.testing.assert_array_equal(np.load(result.path), expected)
    assert result.computed == [0, 1, 2, 3, 4]
    assert (result.reused, result.redone) == ([], {})
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["config"] == CONFIG
    assert manifest["batches_per_chunk"] == 2
    assert sorted(manifest["chunks"]) == ["0", "1", "2", "3", "4"]
    assert manifest["complete"]["batches"] == N_BATCHES
    assert sum(e["rows"] for e in manifest["chunks"].values()) == ROWS * N_BATCHES


def test_iterable_and_sequence_give_the_same_bytes(tmp_path, reference):
    run(tmp_path / "it", batches=iter(make_batches()))
    assert (tmp_path / "it" / RESULT).read_bytes() == reference


def test_second_run_reuses_every_chunk_without_calling_fn(tmp_path, reference):
    run(tmp_path / "reference")

    def never(batch):
        raise AssertionError("fn called for a verified chunk")

    again = run(tmp_path / "reference", f=never)
    assert again.reused == [0, 1, 2, 3, 4]
    assert again.computed == []
    assert again.path.read_bytes() == reference


def test_resume_after_a_crash_in_fn(tmp_path, reference):
    def crashing(batch):
        if batch["id"][0] >= 5 * ROWS:  # batch 5: the second batch of chunk 2
            raise RuntimeError("simulated crash")
        return fn(batch)

    with pytest.raises(RuntimeError, match="simulated crash"):
        run(tmp_path / "out", f=crashing)
    assert not (tmp_path / "out" / RESULT).exists()
    resumed = run(tmp_path / "out")
    assert resumed.reused == [0, 1]
    assert resumed.computed == [2, 3, 4]
    assert resumed.path.read_bytes() == reference


def test_crash_between_chunk_and_manifest_leaves_the_chunk_untrusted(tmp_path, monkeypatch, reference):
    real = streaming._write_manifest
    calls = []

    def dying(out, manifest):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # chunk 2 is on disk, its manifest entry is not
        real(out, manifest)

    monkeypatch.setattr(streaming, "_write_manifest", dying)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "out")
    monkeypatch.setattr(streaming, "_write_manifest", real)
    assert (tmp_path / "out" / "chunk-000002.npy").exists()
    (tmp_path / "out" / ".tmp-leftover").write_bytes(b"partial")
    resumed = run(tmp_path / "out")
    assert resumed.reused == [0, 1]
    assert resumed.computed == [2, 3, 4]
    assert not list((tmp_path / "out").glob(".tmp-*"))
    assert resumed.path.read_bytes() == reference


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-7]), "checksum mismatch"),  # truncated
        (lambda p: p.write_bytes(p.read_bytes()[:-1] + b"\x01"), "checksum mismatch"),  # one byte changed
        (lambda p: p.unlink(), "chunk file missing"),
    ],
    ids=["truncated", "flipped", "deleted"],
)
def test_a_damaged_chunk_is_detected_reported_and_redone(tmp_path, reference, damage, reason, caplog):
    run(tmp_path / "out")
    damage(tmp_path / "out" / "chunk-000003.npy")
    with caplog.at_level(logging.WARNING, logger="ambientloss.annotation"):
        resumed = run(tmp_path / "out")
    assert resumed.computed == [3]
    assert list(resumed.redone) == [3]
    assert reason in resumed.redone[3]
    assert "chunk 3" in caplog.text
    assert reason in caplog.text
    assert resumed.path.read_bytes() == reference


def test_a_damaged_result_file_is_rewritten(tmp_path, reference):
    run(tmp_path / "out")
    (tmp_path / "out" / RESULT).write_bytes(reference[:-3])
    assert run(tmp_path / "out").path.read_bytes() == reference


def test_changed_inputs_are_recomputed(tmp_path):
    run(tmp_path / "out")
    batches = make_batches()
    batches[4]["x"] = batches[4]["x"] + 1.0  # chunk 2
    resumed = run(tmp_path / "out", batches=batches)
    assert resumed.computed == [2]
    assert "inputs changed" in resumed.redone[2]
    np.testing.assert_array_equal(resumed.values, np.concatenate([fn(b) for b in batches]))


def test_chunks_without_an_input_checksum_are_redone_when_inputs_are_verified(tmp_path, reference):
    run(tmp_path / "out", verify_inputs=False)
    resumed = run(tmp_path / "out")
    assert resumed.computed == [0, 1, 2, 3, 4]
    assert "cannot be verified" in resumed.redone[0]
    assert resumed.path.read_bytes() == reference


def test_a_longer_dataset_redoes_the_last_partial_chunk(tmp_path):
    batches = make_batches()
    run(tmp_path / "out", batches=batches[:7])  # chunk 3 holds one batch
    resumed = run(tmp_path / "out", batches=batches)
    assert resumed.reused == [0, 1, 2]
    assert resumed.computed == [3, 4]
    assert "inputs changed" in resumed.redone[3]
    np.testing.assert_array_equal(np.load(resumed.path), np.concatenate([fn(b) for b in batches]))


def test_a_shorter_dataset_drops_stale_chunks(tmp_path):
    run(tmp_path / "out")
    shorter = make_batches()[:4]
    resumed = run(tmp_path / "out", batches=shorter)
    assert resumed.reused == [0, 1]
    assert resumed.redone == dict.fromkeys([2, 3, 4], "beyond the end of the dataset")
    assert sorted(json.loads((tmp_path / "out" / MANIFEST).read_text())["chunks"]) == ["0", "1"]
    np.testing.assert_array_equal(np.load(resumed.path), np.concatenate([fn(b) for b in shorter]))


class CountingSequence(Sequence):
    def __init__(self, items):
        self.items, self.loaded = items, []

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        self.loaded.append(i)
        return self.items[i]


def test_without_input_verification_reused_batches_are_not_loaded(tmp_path, reference):
    run(tmp_path / "out", verify_inputs=False)
    (tmp_path / "out" / "chunk-000004.npy").unlink()
    seq = CountingSequence(make_batches())
    resumed = run(tmp_path / "out", batches=seq, verify_inputs=False)
    assert seq.loaded == [8]
    assert resumed.computed == [4]
    assert resumed.path.read_bytes() == reference


@pytest.mark.parametrize(
    ("changes", "match"),
    [({"config": {**CONFIG, "eps": 0.01}}, "another run.*eps"), ({"batches_per_chunk": 3}, "batches_per_chunk")],
    ids=["config", "chunking"],
)
def test_a_foreign_output_directory_is_refused(tmp_path, reference, changes, match):
    run(tmp_path / "reference")
    with pytest.raises(ValueError, match=match):
        run(tmp_path / "reference", **changes)
    fresh = run(tmp_path / "reference", overwrite=True, **changes)
    assert fresh.reused == []
    assert np.load(fresh.path).shape == (ROWS * N_BATCHES,)


def test_corrupted_manifest_and_unrelated_directory_are_refused(tmp_path):
    run(tmp_path / "out")
    (tmp_path / "out" / MANIFEST).write_text('{"format": "ambientloss-annotation-stream/1", "chu')
    with pytest.raises(ValueError, match="corrupted or not an annotation manifest"):
        run(tmp_path / "out")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"not empty and has no manifest\.json"):
        run(tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"fn returned shape \(4,\) for batch 0 of 5 samples; expected \(5, ...\)"):
        run(tmp_path / "a", f=lambda b: b["x"][:4, 0])
    with pytest.raises(ValueError, match="batches is empty"):
        run(tmp_path / "b", batches=[])
    with pytest.raises(TypeError, match="split an array into batches"):
        run(tmp_path / "c", batches=np.zeros((10, 3)))
    with pytest.raises(TypeError, match="config must be JSON-serialisable"):
        run(tmp_path / "d", config={"model": object()})
    with pytest.raises(TypeError, match="config must be a mapping"):
        run(tmp_path / "d", config=["eps", 0.05])
    with pytest.raises(ValueError, match="batches_per_chunk must be a positive integer, got 0"):
        run(tmp_path / "e", batches_per_chunk=0)
    with pytest.raises(TypeError, match="fn must be callable"):
        run(tmp_path / "f", f="sigma_min")
    with pytest.raises(ValueError, match=r"batch 1: arrays must share their leading \(sample\) axis"):
        run(
            tmp_path / "g",
            [{"x": np.zeros((2, 1))}, {"x": np.zeros((2, 1)), "id": np.arange(3)}],
            lambda b: b["x"][:, 0],
        )

    def switching(batch):  # float64 first, float32 later: refused, not silently promoted
        out = fn(batch)
        return out if batch["id"][0] < 3 * ROWS else out.astype(np.float32)

    with pytest.raises(ValueError, match=r"float32 values .* for batch 3 but float64"):
        run(tmp_path / "h", f=switching)
    with pytest.raises(TypeError, match="dtype <U1"):
        run(tmp_path / "i", f=lambda b: np.array(["a"] * len(b["id"])))


def test_torch_results_are_accepted(tmp_path):
    torch = pytest.importorskip("torch")
    result = run(tmp_path / "t", f=lambda b: torch.as_tensor(fn(b)))
    np.testing.assert_array_equal(result.values, np.concatenate([fn(b) for b in make_batches()]))


def test_progress_bar_is_shown_and_can_be_disabled(tmp_path, capsys):
    pytest.importorskip("tqdm")
    run(tmp_path / "shown", progress=True)
    err = capsys.readouterr().err
    assert "annotate" in err
    assert f"{N_BATCHES}/{N_BATCHES}" in err
    run(tmp_path / "hidden", progress=False)
    assert capsys.readouterr().err == ""


def _chunks_listed(out: Path) -> int:
    try:
        return len(json.loads((out / MANIFEST).read_text())["chunks"])
    except (OSError, ValueError):
        return 0


def test_kill_and_resume_gives_identical_bytes(tmp_path, reference):
    """SIGKILL a real annotation process midway through chunk 2, resume in a new process, compare bytes."""
    script = tmp_path / "job.py"
    script.write_text(
        JOB
        + textwrap.dedent(
            """
            import sys, time, json
            from ambientloss.annotation import annotate_stream

            out, block_at = sys.argv[1], int(sys.argv[2])

            def blocking(batch):  # from batch `block_at` on, say so and hang until killed
                if block_at >= 0 and batch["id"][0] >= block_at * ROWS:
                    open(out + ".blocked", "w").close()
                    time.sleep(600)
                return fn(batch)

            r = annotate_stream(make_batches(), blocking, out_dir=out, config=CONFIG, batches_per_chunk=2,
                                progress=False)
            print(json.dumps({"reused": r.reused, "computed": r.computed}))
            """
        )
    )
    out = tmp_path / "killed"
    blocked = tmp_path / "killed.blocked"  # written by the child when it reaches batch 5
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, str(script), str(out), "5"], env=env)  # hangs in chunk 2
    # wait for the child's signal, not for a guessed time: at batch 5, chunks 0 and 1 are on disk and
    # listed, batch 4 (in chunk 2) is computed but not written; the deadline only guards a broken child
    deadline = time.monotonic() + 300
    while not blocked.exists() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    assert blocked.exists(), f"the child did not reach batch 5 (exit code {child.poll()})"
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    assert _chunks_listed(out) == 2
    assert not (out / RESULT).exists()

    done = subprocess.run(
        [sys.executable, str(script), str(out), "-1"], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == {"reused": [0, 1], "computed": [2, 3, 4]}
    assert (out / RESULT).read_bytes() == reference


# --- the per-batch sigma_min function ------------------------------------------------------------

MU_Q = np.array([1.5, -1.0, 0.5])  # clean N(0, I), corrupt N(MU_Q, I)
LEVELS = np.linspace(0.02, 0.98, 49)


def bayes_p_clean(x_sigma, sigma):
    """Bayes P(clean | x_sigma) at VP level sigma (math notes 6.6), row by row (no BLAS reductions)."""
    a = ((1 - sigma) * (1 + sigma)) ** 0.5
    logit = ((x_sigma / a[:, None] - MU_Q / 2) * -MU_Q).sum(axis=1) / (1 + (sigma / a) ** 2)
    return 1 / (1 + np.exp(-logit))


def corrupt_batches(n=48, rows=16):
    x = np.random.default_rng(5).normal(size=(n, 3)) + MU_Q
    return [{"id": np.arange(i, i + rows), "x": x[i : i + rows]} for i in range(0, n, rows)]


def test_batch_annotator_is_pure_and_matches_the_selection_on_the_whole_set(tmp_path):
    from ambientloss.annotation import BatchAnnotator, adaptive_sigma_min, classifier_trajectory, select_sigma_min

    batches = corrupt_batches()
    x, ids = np.concatenate([b["x"] for b in batches]), np.concatenate([b["id"] for b in batches])
    fn = BatchAnnotator(bayes_p_clean, LEVELS, probability="clean", eps=0.05, n_draws=3, seed=11)
    whole = select_sigma_min(
        classifier_trajectory(bayes_p_clean, x, LEVELS, n_draws=3, seed=11, sample_ids=ids),
        LEVELS,
        probability="clean",
        eps=0.05,
    )
    run = annotate_stream(batches, fn, out_dir=tmp_path / "a", config=fn.config(), progress=False)
    np.testing.assert_array_equal(run.values, whole)
    assert len(np.unique(whole)) > 5
    shuffled = [{"id": ids[::-1][i : i + 12], "x": x[::-1][i : i + 12]} for i in range(0, 48, 12)]
    np.testing.assert_array_equal(np.concatenate([fn(b) for b in shuffled])[::-1], whole)  # other batching
    fast = BatchAnnotator(bayes_p_clean, LEVELS, probability="clean", eps=0.05, n_draws=3, seed=11, adaptive=True)
    expected = adaptive_sigma_min(bayes_p_clean, x, LEVELS, probability="clean", eps=0.05, n_draws=3, seed=11).sigma_min
    np.testing.assert_array_equal(np.concatenate([fast(b) for b in batches]), expected)
    import pickle

    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fn))(batches[1]), fn(batches[1]))


def test_batch_annotator_config_and_bad_input():
    import json

    from ambientloss.annotation import BatchAnnotator

    fn = BatchAnnotator(bayes_p_clean, LEVELS, probability="clean", eps=0.05)
    config = json.loads(json.dumps(fn.config()))
    assert config["grid"]["size"] == LEVELS.size
    assert config["eps"] == 0.05
    assert BatchAnnotator(bayes_p_clean, LEVELS, probability="clean", eps=0.02).config() != config
    assert BatchAnnotator(bayes_p_clean, LEVELS * 0.9, probability="clean", eps=0.05).config() != config
    with pytest.raises(TypeError, match="batch must be a mapping"):
        fn(np.zeros((2, 3)))
    with pytest.raises(KeyError, match=r"batch lacks \['id'\]"):
        fn({"x": np.zeros((2, 3))})
    with pytest.raises(ValueError, match=r"adaptive=True .* needs rule='monotone'"):
        BatchAnnotator(bayes_p_clean, LEVELS, probability="clean", eps=0.05, rule="first", adaptive=True)
    with pytest.raises(ValueError, match=r"eps must lie in \[0, 0.5\)"):
        BatchAnnotator(bayes_p_clean, LEVELS, probability="clean", eps=0.7)
    with pytest.raises(ValueError, match="probability must be 'clean' or 'corrupt'"):
        BatchAnnotator(bayes_p_clean, LEVELS, probability="good", eps=0.05)
    with pytest.raises(TypeError, match="classifier must be callable"):
        BatchAnnotator("model.pt", LEVELS, probability="clean", eps=0.05)
    with pytest.raises(ValueError, match="grid must hold at least one finite level"):
        BatchAnnotator(bayes_p_clean, [0.1, np.nan], probability="clean", eps=0.05)
    wrong = BatchAnnotator(lambda x, s: s[:1], LEVELS, probability="clean", eps=0.05)
    with pytest.raises(ValueError, match="classifier"):
        wrong(corrupt_batches()[0])


def test_batch_annotator_with_a_trained_torch_classifier(tmp_path):
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors on a shared CPU: one intra-op thread is fastest
    try:
        _annotate_with_torch(torch, tmp_path)
    finally:
        torch.set_num_threads(threads)


def _annotate_with_torch(torch, tmp_path):
    import functools

    from ambientloss.adapters.torch_classifier import NoiseConditionalClassifier, fit_classifier
    from ambientloss.annotation import BatchAnnotator

    g = torch.Generator().manual_seed(0)
    clean, corrupt = torch.randn(1024, 3, generator=g), torch.randn(1024, 3, generator=g) + torch.tensor(MU_Q).float()
    with torch.random.fork_rng(devices=[]):  # the initialisation reads the global generator: seed it, restore it
        torch.manual_seed(0)
        model = NoiseConditionalClassifier(3, positive="corrupt", hidden=16)
    fit_classifier(model, clean, corrupt, steps=150, generator=g)
    fn = BatchAnnotator(
        functools.partial(model.probability, probability="clean"), LEVELS, probability="clean", eps=0.05
    )
    batches = [{"id": torch.as_tensor(b["id"]), "x": torch.as_tensor(b["x"]).float()} for b in corrupt_batches()]
    run = annotate_stream(batches, fn, out_dir=tmp_path / "t", config=fn.config(), progress=False)
    assert run.values.shape == (48,)
    assert run.values.dtype == np.float32
    assert set(np.unique(run.values)) <= set(LEVELS.astype(np.float32))
    assert len(np.unique(run.values)) > 3  # a trained classifier separates the samples
    np.testing.assert_array_equal(run.values[16:32], fn(batches[1]).numpy())
