"""The CNN stage: TensorFlow training time against thread counts.

There is one pseudo-backend, ``tensorflow``: with ``N`` workers the training
process runs with intra-op = inter-op = ``OMP_NUM_THREADS`` = ``N``; the
baseline is ``("tensorflow", 1)``. To vary the pools separately, name the
pair in the backend: ``tf-intra{A}-inter{B}`` runs intra-op ``A``, inter-op
``B`` and ``OMP_NUM_THREADS`` = the worker count. :meth:`CnnStage.prepare`
given ``intra=[..]`` and/or ``inter=[..]`` lists (a missing list is ``[1]``)
sets :attr:`CnnStage.backends` to every such pair, so ``genre-hpc scale
--stage cnn --intra 1,2 --inter 1,2 --workers 1`` times the four pairs (once
the CLI reads ``stage.backends`` after ``prepare``; until then pass the pair
names with ``--backends``, and the ``tensorflow`` rows are skipped with that
advice).

The work (made once by :meth:`CnnStage.prepare`) carries the training arrays
themselves, so it pickles to other processes. Each run is one fresh training
process (:func:`genre_hpc.cnn.train_cnn`);
``compute_s`` is ``model.fit`` only, ``startup_s`` the process start and
TensorFlow import. The settings read back in the child (``intra_op``,
``inter_op``, ``omp``) and the track-level ``accuracy`` are in the row.
"""

from __future__ import annotations

import re

from . import RunResult, Stage

_PAIR = re.compile(r"^tf-intra(\d+)-inter(\d+)$")
#: epochs of a scaling run unless ``epochs=`` is given
STAGE_EPOCHS = 3
#: first-epoch loss tolerance of :meth:`CnnStage.same` (thread counts moved it by ~1e-5 here)
LOSS_RTOL = 1e-3


def pair_backend(intra: int, inter: int) -> str:
    """The backend name of an (intra-op, inter-op) pair: ``tf-intra2-inter1``."""
    return f"tf-intra{int(intra)}-inter{int(inter)}"


def parse_backend(backend: str, workers: int) -> tuple[int, int, int]:
    """``(intra_op, inter_op, omp)`` of a backend name and worker count."""
    if backend == "tensorflow":
        return workers, workers, workers
    m = _PAIR.match(backend)
    if not m:
        raise KeyError(f"unknown cnn backend {backend!r}; use 'tensorflow' or 'tf-intra<A>-inter<B>'")
    return int(m.group(1)), int(m.group(2)), workers


class CnnStage(Stage):
    """Training the CNN on images made once, per thread configuration."""

    name = "cnn"

    def __init__(self):
        self.backends: tuple[str, ...] = ("tensorflow",)

    def prepare(
        self,
        *,
        data=None,
        per_genre: int = 2,
        seconds: float = 6.0,
        seed: int = 0,
        preset: str | None = None,
        epochs: int | None = None,
        image_size: int = 64,
        batch_size: int = 32,
        intra=None,
        inter=None,
        split: str | None = None,
        split_file=None,
        groups=None,
        **_,
    ):
        """Make the images once (serial) and the training arrays once.

        The work holds the training arrays themselves (the bytes of the
        :func:`~genre_hpc.cnn.build_dataset` file), not a path, so it can be
        pickled to other processes (the asv benchmarks do) and outlives any
        temporary folder; each run writes them to a fresh temporary file.

        The validation tracks are :func:`~genre_hpc.cnn.split_tracks`' (30 %
        per genre) unless a protocol is given: ``split`` (``track``: the
        feature models' split; ``gtzan-filtered``), ``split_file`` (a folder
        of lists; a valid list is merged into train: nothing is tuned) or
        ``groups`` (a CSV track -> group), resolved by
        :func:`genre_hpc.splits.plan_tracks` on the dataset's tracks.
        """
        import shutil
        import tempfile
        from pathlib import Path

        from ..cnn import PRESETS, build_dataset
        from ..images import make_images

        preset = preset or "quick"
        if preset not in PRESETS:
            raise KeyError(f"unknown CNN preset {preset!r}; known: {', '.join(PRESETS)}")
        if data is None:
            from ..synth import default_dataset

            data = default_dataset(per_genre=per_genre, seconds=seconds, seed=seed)
        protocol, given = None, None
        tracks = data
        if split or split_file is not None or groups is not None:
            from ..dataset import discover
            from ..splits import plan_tracks

            tracks = discover(data)
            protocol = plan_tracks(
                [t.track_id for t in tracks],
                [t.genre for t in tracks],
                split=split or "track",
                split_file=split_file,
                groups=groups,
                random_state=seed,
            )
            fold = protocol.folds[0]
            given = (fold.train, fold.test)
            wanted = set(fold.train) | set(fold.test)
            tracks = [t for t in tracks if t.track_id in wanted]
        tmp = Path(tempfile.mkdtemp(prefix="genre-hpc-cnn-stage-"))
        try:
            res = make_images(tracks, tmp / "images", backend="serial", workers=1, progress=False)
            if not res.paths:
                raise ValueError(
                    f"no image could be made from {data}: "
                    + "; ".join(f"{f.path}: {f.reason}" for f in res.failures[:3])
                )
            info = build_dataset(
                tmp / "images", tmp / "dataset.npz", image_size=image_size, seed=seed, split=given
            )
            dataset = (tmp / "dataset.npz").read_bytes()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if intra or inter:
            self.backends = tuple(pair_backend(a, b) for a in (intra or [1]) for b in (inter or [1]))
        return {
            "dataset": dataset,
            "preset": preset,
            "seed": seed,
            "batch_size": batch_size,
            "epochs": int(epochs) if epochs else STAGE_EPOCHS,
            "image_size": image_size,
            "info": info,
            "image_failures": len(res.failures),
            "protocol": protocol.info.get("protocol") if protocol else "split_tracks",
            "protocol_notes": list(protocol.notes) if protocol else [],
        }

    def baseline(self, backend):
        """1 thread everywhere, named the way ``backend`` is (``tensorflow`` x1 or
        ``tf-intra1-inter1`` x1: the same configuration), so a caller can tell the baseline's
        own row from the others."""
        return (pair_backend(1, 1), 1) if _PAIR.match(str(backend)) else ("tensorflow", 1)

    def skip_reason(self, backend, workers, **_):
        try:
            parse_backend(backend, workers)
        except KeyError as exc:
            return str(exc.args[0])
        if backend == "tensorflow" and self.backends != ("tensorflow",):
            # prepare() got --intra/--inter lists but the caller read .backends before prepare()
            return "--intra/--inter given: time the pairs with --backends " + ",".join(self.backends)
        return None

    def threads(self, backend, workers) -> int:
        """The largest thread pool of a run: ``max(intra_op, inter_op, omp)``."""
        return max(parse_backend(backend, workers))

    def run(self, work, backend, workers, **_):
        import tempfile
        from pathlib import Path

        from ..cnn import train_cnn

        intra, inter, omp = parse_backend(backend, workers)
        with tempfile.TemporaryDirectory(prefix="genre-hpc-cnn-run-") as tmp:
            dataset = Path(tmp) / "dataset.npz"
            dataset.write_bytes(work["dataset"])
            res = train_cnn(
                dataset,
                intra_op=intra,
                inter_op=inter,
                omp=omp,
                epochs=work["epochs"],
                batch_size=work["batch_size"],
                preset=work["preset"],
                seed=work["seed"],
            )
        epochs = res.epoch_s
        steady = epochs[1:] or epochs
        extra = {
            "intra_op": res.intra_op,
            "inter_op": res.inter_op,
            "omp": res.omp,
            "accuracy": res.accuracy,
            "accuracy_ci": list(res.accuracy_ci),
            "chunk_accuracy": res.chunk_accuracy,
            "chunk_accuracy_ci": list(res.chunk_accuracy_ci),
            "test_tracks": len(res.val_tracks),
            "protocol": work.get("protocol", "split_tracks"),
            "preset": res.preset,
            "epochs": res.epochs,
            "image_size": res.image_size,
            "n_params": res.n_params,
            "first_epoch_s": epochs[0],
            "epoch_s": sum(steady) / len(steady),
            "threads": max(res.intra_op, res.inter_op, res.omp or 1),
            "import_s": res.import_s,
            "train_samples": res.n_train_samples,
            "requested": "intra {intra_op} inter {inter_op} omp {omp}".format(**res.requested),
        }
        output = {
            "val_tracks": tuple(res.val_tracks),
            "val_pred": tuple(res.val_pred),
            "loss": tuple(res.history.get("loss", ())),
            "accuracy": res.accuracy,
        }
        return RunResult(res.train_s, res.startup_s, output, extra)

    def same(self, a, b) -> bool:
        """The same training, up to floating-point summation order.

        Thread counts change the order of TensorFlow's parallel sums, so runs
        with different pools are not bit-identical (their predictions can
        differ near a tie); runs with the same pools are. Two outputs are
        "the same" when they evaluated the same validation tracks over the
        same epochs and their first-epoch training loss agrees to 1e-3
        relative (same data, initial weights and batch order; a different
        seed moves it by percents).
        """
        la, lb = a.get("loss", ()), b.get("loss", ())
        if a.get("val_tracks") != b.get("val_tracks") or len(la) != len(lb) or not la:
            return False
        return abs(la[0] - lb[0]) <= LOSS_RTOL * max(abs(la[0]), abs(lb[0]))
