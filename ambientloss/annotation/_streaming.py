"""Dataset-scale annotation: a pure per-batch function over a stream, checkpointed in atomic chunks.

:func:`annotate_stream` applies ``fn(batch) -> (n, ...)`` (for example a classifier trajectory followed
by a selection rule, giving each sample's ``sigma_min``) to every batch of a dataset, writes the results
in chunks of ``batches_per_chunk`` batches and, at the end, their concatenation. Every file is written
to a temporary name, flushed and moved into place with :func:`os.replace`, so a killed run leaves
either the old file or the new one. A ``manifest.json`` records the run configuration and the SHA-256
of every chunk (and of the inputs it was computed from); a resumed run reuses only the chunks whose
bytes and inputs still match, recomputes the others, and produces the same bytes as an uninterrupted
run. An output directory written with another configuration is refused rather than mixed in.

``fn`` must be pure: its result for a sample depends only on that sample (draw any noise from a
generator seeded by the sample's id, not by its position in the batch), as
:class:`~ambientloss.annotation.BatchAnnotator` does. The same function then runs unchanged
inside Ray Data through :mod:`ambientloss.adapters.ray`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..core.arrays import to_numpy
from ._files import atomic_write, npy_bytes, sha256

__all__ = ["MANIFEST", "RESULT", "StreamResult", "annotate_stream"]

logger = logging.getLogger("ambientloss.annotation")

MANIFEST = "manifest.json"
RESULT = "result.npy"
_FORMAT = "ambientloss-annotation-stream/1"


@dataclass
class StreamResult:
    """What :func:`annotate_stream` produced and how: reused, computed and redone chunks."""

    values: np.ndarray  #: the concatenated per-sample results
    path: Path  #: the file holding ``values`` (``out_dir / "result.npy"``)
    computed: list[int] = field(default_factory=list)  #: chunks computed by this call
    reused: list[int] = field(default_factory=list)  #: chunks taken from an earlier run after verification
    redone: dict[int, str] = field(default_factory=dict)  #: chunks found damaged or stale, with the reason


def _rows(batch: Any, index: int | None) -> int:
    """Number of samples in a batch: an array ``(n, ...)`` or a mapping of such arrays."""
    arrays = dict(batch) if isinstance(batch, Mapping) else {"batch": batch}
    where = "batch" if index is None else f"batch {index}"
    sizes = {}
    for key, value in arrays.items():
        shape = getattr(value, "shape", None)
        if shape is None or len(shape) == 0:
            msg = f"{where}: {key!r} must be an array with a leading sample axis, got {type(value).__name__}"
            raise TypeError(msg)
        sizes[key] = int(shape[0])
    if len(set(sizes.values())) != 1:
        msg = f"{where}: arrays must share their leading (sample) axis, got lengths {sizes}"
        raise ValueError(msg)
    return next(iter(sizes.values()))


def _fingerprint(batches: list[Any]) -> str:
    """SHA-256 of the batches' contents (keys, dtypes, shapes and bytes)."""
    h = hashlib.sha256()
    for batch in batches:
        items = sorted(batch.items()) if isinstance(batch, Mapping) else [("", batch)]
        for key, value in items:
            arr = np.ascontiguousarray(to_numpy(value))
            h.update(f"{key}|{arr.dtype.str}|{arr.shape}|".encode())
            h.update(repr(arr.tolist()).encode() if arr.dtype == object else arr.tobytes())
    return h.hexdigest()


def batch_result(fn: Callable[[Any], Any], batch: Any, index: int | None = None) -> np.ndarray:
    """``fn(batch)`` as a NumPy array, checked to hold one row per sample of ``batch``."""
    n = _rows(batch, index)
    out = np.asarray(to_numpy(fn(batch)))
    where = "a batch" if index is None else f"batch {index}"
    if out.ndim < 1 or out.shape[0] != n:
        msg = f"fn returned shape {out.shape} for {where} of {n} samples; expected ({n}, ...)"
        raise ValueError(msg)
    if not (np.issubdtype(out.dtype, np.number) or out.dtype == np.bool_):
        msg = f"fn returned an array of dtype {out.dtype} for {where}; expected numbers"
        raise TypeError(msg)
    return out


def _check_like(values: np.ndarray, first: np.ndarray, where: str) -> None:
    """Every batch must give one dtype and one per-sample shape: nothing is silently promoted."""
    if values.dtype != first.dtype or values.shape[1:] != first.shape[1:]:
        msg = (
            f"fn gave {values.dtype} values of per-sample shape {values.shape[1:]} for {where} but "
            f"{first.dtype} of shape {first.shape[1:]} before; fn must return one dtype and shape"
        )
        raise ValueError(msg)


def _check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        msg = f"config must be a mapping (for example a dict of the run's settings), got {type(config).__name__}"
        raise TypeError(msg)
    try:
        return json.loads(json.dumps(dict(config), sort_keys=True, allow_nan=False))
    except (TypeError, ValueError) as exc:
        msg = f"config must be JSON-serialisable with finite numbers: {exc}"
        raise TypeError(msg) from None


def _open(out: Path, settings: dict[str, Any], overwrite: bool) -> dict[str, Any]:
    """Load the manifest of ``out`` (or start one); refuse directories of another run or of other files."""
    fresh = {"format": _FORMAT, **settings, "chunks": {}, "complete": None}
    out.mkdir(parents=True, exist_ok=True)
    for leftover in out.glob(".tmp-*"):  # temporary files of a killed run
        leftover.unlink()
    path = out / MANIFEST
    if overwrite:
        for old in [*out.glob("chunk-*.npy"), out / RESULT, path]:
            old.unlink(missing_ok=True)
        return fresh
    if not path.exists():
        if any(out.iterdir()):
            msg = f"{out} is not empty and has no {MANIFEST}; refusing to write there (pass overwrite=True)"
            raise ValueError(msg)
        return fresh
    try:
        manifest = json.loads(path.read_text())
        ok = manifest.get("format") == _FORMAT and isinstance(manifest.get("chunks"), dict)
    except (ValueError, UnicodeDecodeError, AttributeError):
        ok = False
    if not ok:
        msg = f"{path} is corrupted or not an annotation manifest; pass overwrite=True to start over"
        raise ValueError(msg)
    differ = sorted(k for k in settings if manifest.get(k) != settings[k])
    if differ:
        theirs = {k: manifest.get(k) for k in differ}
        ours = {k: settings[k] for k in differ}
        msg = (
            f"{out} holds results of another run: {theirs} there, {ours} now; "
            "use another directory or pass overwrite=True"
        )
        raise ValueError(msg)
    return manifest


def _verified(out: Path, entry: Any, inputs: str | None, n_batches: int) -> tuple[np.ndarray | None, str]:
    """The chunk's values if its file and inputs match the manifest entry, else ``None`` and the reason."""
    try:
        data = (out / entry["file"]).read_bytes()
    except (OSError, KeyError, TypeError):
        return None, "chunk file missing"
    if sha256(data) != entry.get("sha256"):
        return None, "checksum mismatch (file corrupted or truncated)"
    if inputs is not None and "inputs_sha256" not in entry:
        return None, "written without an input checksum, so its inputs cannot be verified"
    if entry.get("batches") != n_batches or (inputs is not None and entry["inputs_sha256"] != inputs):
        return None, "inputs changed since the chunk was written"
    return np.load(io.BytesIO(data), allow_pickle=False), ""


def _filesha256(path: Path) -> str | None:
    try:
        return sha256(path.read_bytes())
    except OSError:
        return None


def _load(batches: Sequence[Any], start: int, stop: int) -> list[Any]:
    return [batches[i] for i in range(start, stop)]


def _loaded(group: list[Any]) -> list[Any]:
    return group


def _groups(batches: Iterable[Any] | Sequence[Any], k: int) -> Iterator[tuple[int, int, Callable[[], list[Any]]]]:
    """``(chunk index, number of batches, loader)``; a sequence is indexed lazily, an iterable read in order."""
    if isinstance(batches, Sequence):
        for c, start in enumerate(range(0, len(batches), k)):
            stop = min(start + k, len(batches))
            yield c, stop - start, partial(_load, batches, start, stop)
        return
    group: list[Any] = []
    c = 0
    for batch in batches:
        group.append(batch)
        if len(group) == k:
            yield c, k, partial(_loaded, group)
            group, c = [], c + 1
    if group:
        yield c, len(group), partial(_loaded, group)


def _progress(total: int | None, enabled: bool) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # the bar is optional: without tqdm the run is silent
        return None
    return tqdm(total=total, unit="batch", desc="annotate", disable=not enabled)


def annotate_stream(
    batches: Iterable[Any] | Sequence[Any],
    fn: Callable[[Any], Any],
    /,
    *,
    out_dir: str | os.PathLike[str],
    config: Mapping[str, Any],
    batches_per_chunk: int = 1,
    verify_inputs: bool = True,
    overwrite: bool = False,
    progress: bool = True,
) -> StreamResult:
    """Apply ``fn`` to every batch, checkpointing atomically in ``out_dir``; resume where a run stopped.

    Parameters
    ----------
    batches : iterable or sequence
        Batches in a fixed order: arrays ``(n, ...)`` of any library, or mappings of such arrays
        (Ray Data's dict-of-NumPy format). A sequence is indexed, so reused chunks are not even
        loaded when ``verify_inputs=False``.
    fn : callable
        Pure per-batch function returning ``(n, ...)`` results (NumPy, PyTorch or JAX).
    out_dir : path
        Directory of the chunks, ``manifest.json`` and ``result.npy``; one run writes there at a time.
    config : mapping
        JSON-serialisable description of everything that determines the output (classifier checkpoint,
        grid, rule, eps, seed, ...). Resuming with a different ``config`` or ``batches_per_chunk``
        raises ``ValueError``.
    batches_per_chunk : int
        Batches per checkpoint.
    verify_inputs : bool
        Also store a SHA-256 of each chunk's inputs and recompute chunks whose inputs changed.
    overwrite : bool
        Delete earlier results in ``out_dir`` and start over.
    progress : bool
        Show a tqdm progress bar (when tqdm is installed).

    Returns
    -------
    StreamResult
        The values, the path of ``result.npy``, and which chunks were computed, reused or redone
        (a damaged or stale chunk is also reported on the ``"ambientloss.annotation"`` logger).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from ambientloss.annotation import annotate_stream
    >>> batches = [np.arange(3.0), np.arange(3.0, 5.0)]
    >>> out = tempfile.mkdtemp()
    >>> run = annotate_stream(batches, lambda b: 2 * b, out_dir=out, config={"scale": 2}, progress=False)
    >>> run.values, run.computed
    (array([0., 2., 4., 6., 8.]), [0, 1])
    >>> annotate_stream(batches, lambda b: 2 * b, out_dir=out, config={"scale": 2}, progress=False).reused
    [0, 1]
    """
    if not callable(fn):
        msg = f"fn must be callable, got {type(fn).__name__}"
        raise TypeError(msg)
    if hasattr(batches, "shape") or isinstance(batches, (str, bytes, Mapping)):
        msg = (
            f"batches must be an iterable or sequence of batches, got one {type(batches).__name__}; "
            "split an array into batches first (for example with numpy.array_split)"
        )
        raise TypeError(msg)
    if isinstance(batches_per_chunk, bool) or not isinstance(batches_per_chunk, int) or batches_per_chunk < 1:
        msg = f"batches_per_chunk must be a positive integer, got {batches_per_chunk!r}"
        raise ValueError(msg)
    out = Path(out_dir)
    settings = {"config": _check_config(config), "batches_per_chunk": batches_per_chunk}
    manifest = _open(out, settings, overwrite)
    run = StreamResult(np.empty(0), out / RESULT)
    parts: list[np.ndarray] = []
    n_batches = 0
    bar = _progress(len(batches) if isinstance(batches, Sequence) else None, progress)
    try:
        for c, size, load in _groups(batches, batches_per_chunk):
            entry = manifest["chunks"].get(str(c))
            group = load() if entry is None or verify_inputs else None
            inputs = _fingerprint(group) if verify_inputs and group is not None else None
            values, reason = (None, "") if entry is None else _verified(out, entry, inputs, size)
            if values is None:
                if entry is not None:
                    run.redone[c] = reason
                    logger.warning("annotation chunk %d in %s is redone: %s", c, out, reason)
                group = load() if group is None else group
                results = [batch_result(fn, b, n_batches + i) for i, b in enumerate(group)]
                for i, r in enumerate(results):
                    _check_like(r, parts[0] if parts else results[0], f"batch {n_batches + i}")
                values = np.concatenate(results)
                _write_chunk(out, manifest, c, values, size, inputs)
                run.computed.append(c)
            else:
                run.reused.append(c)
                _check_like(values, parts[0] if parts else values, f"chunk {c}")
            parts.append(values)
            n_batches += size
            if bar is not None:
                bar.update(size)
                bar.set_postfix(reused=len(run.reused), computed=len(run.computed), refresh=False)
    finally:
        if bar is not None:
            bar.close()
    if not parts:
        msg = "batches is empty: there is nothing to annotate"
        raise ValueError(msg)
    for k in [k for k in manifest["chunks"] if int(k) >= len(parts)]:  # beyond the end of a shorter dataset
        run.redone[int(k)] = "beyond the end of the dataset"
        (out / manifest["chunks"].pop(k)["file"]).unlink(missing_ok=True)
        manifest["complete"] = None
    run.values = np.concatenate(parts)
    data = npy_bytes(run.values)
    complete = {"file": RESULT, "sha256": sha256(data), "batches": n_batches, "chunks": len(parts)}
    if manifest.get("complete") != complete or _filesha256(out / RESULT) != complete["sha256"]:
        atomic_write(out / RESULT, data)
        manifest["complete"] = complete
        _write_manifest(out, manifest)
    return run


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    atomic_write(out / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())


def _write_chunk(
    out: Path, manifest: dict[str, Any], c: int, values: np.ndarray, size: int, inputs: str | None
) -> None:
    """Write chunk ``c`` atomically, then the manifest that vouches for it."""
    data = npy_bytes(values)
    name = f"chunk-{c:06d}.npy"
    atomic_write(out / name, data)
    entry: dict[str, Any] = {"file": name, "sha256": sha256(data), "rows": int(values.shape[0]), "batches": size}
    if inputs is not None:
        entry["inputs_sha256"] = inputs
    manifest["chunks"][str(c)] = entry
    manifest["complete"] = None
    _write_manifest(out, manifest)
