"""The CNN stage: TensorFlow training time against thread counts.

The space is intra_op x inter_op x omp: TensorFlow's intra-op and inter-op pools and
``OMP_NUM_THREADS`` of the training process. The baseline is 1 thread everywhere, and
efficiency is divided by the largest of the three pools (:meth:`CnnStage.threads`), which is
also what a row reports as ``workers`` (the ``backend`` of every row is ``tensorflow``).
``genre-hpc scale --stage cnn --workers 1,2,4`` times the tied cells intra = inter = omp = N;
``--intra 1,2 --inter 1,2 [--omp 1]`` (or ``--workers`` for omp) times every combination
(a list not given is ``[1]``).

The work (made once by :meth:`CnnStage.prepare`) carries the training arrays
themselves, so it pickles to other processes. Each run is one fresh training
process (:func:`genre_hpc.cnn.train_cnn`);
``compute_s`` is ``model.fit`` only, ``startup_s`` the process start and
TensorFlow import. The settings read back in the child (``intra_op``,
``inter_op``, ``omp``) and the track-level ``accuracy`` are in the row.
"""

from __future__ import annotations

from . import RunResult, Stage
from .space import Axis, Space

#: epochs of a scaling run unless ``epochs=`` is given
STAGE_EPOCHS = 3
#: first-epoch loss tolerance of :meth:`CnnStage.same`: thread counts moved it by ~1e-5 on 60
#: windows and by 1.2e-3 on the default benchmark work (1400 windows, intra-op 1 vs 2), measured
#: with Keras' own feed of the arrays; with the tf.data feed (9e2aa39) the suite's cells still
#: agree within it (4bec58d's run: identical); another seed moves it by percents
LOSS_RTOL = 5e-3


class CnnStage(Stage):
    """Training the CNN on images made once, per thread configuration."""

    name = "cnn"
    requires = ("tf",)
    space = Space(
        (
            Axis("intra_op", "count", flags=("--intra-op", "--intra"), help="TensorFlow intra-op threads"),
            Axis("inter_op", "count", flags=("--inter-op", "--inter"), help="TensorFlow inter-op threads"),
            Axis("omp", "count", help="OMP_NUM_THREADS of the training process (default: --workers)"),
        ),
        engine="tensorflow",
    )

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
        from ..dataset import DatasetError
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
            try:
                info = build_dataset(
                    tmp / "images", tmp / "dataset.npz", image_size=image_size, seed=seed, split=given
                )
            except DatasetError as exc:  # named by the data, not by this temporary folder
                raise DatasetError(
                    f"{data}: {str(exc).split(': ', 1)[-1]} (give 2 or more tracks per genre)"
                ) from None
            dataset = (tmp / "dataset.npz").read_bytes()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
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

    def baseline(self, cell):
        """1 thread everywhere."""
        return {"intra_op": 1, "inter_op": 1, "omp": 1}

    def threads(self, cell) -> int:
        """The largest thread pool of a run: ``max(intra_op, inter_op, omp)``."""
        return max(int(cell["intra_op"]), int(cell["inter_op"]), int(cell["omp"]))

    def uses_processes(self, cell):
        return True

    def series(self, cell) -> str:
        """``tensorflow`` for the tied cells (intra = inter = omp), else the three pools."""
        a, b, c = cell["intra_op"], cell["inter_op"], cell["omp"]
        return "tensorflow" if a == b == c else f"intra {a}, inter {b}, omp {c}"

    def grid(self, backends=None, workers=None, **axes):
        """``workers`` is the omp list unless ``omp`` is given; without ``intra_op`` and
        ``inter_op`` the cells are tied (intra = inter = omp = N), otherwise every combination
        (a list not given is ``[1]``)."""
        axes = {k: v for k, v in axes.items() if v is not None}
        if "omp" not in axes:
            if workers is None:
                raise ValueError("stage 'cnn': give the thread counts (--workers or --omp)")
            axes["omp"] = list(workers)
        if "intra_op" in axes or "inter_op" in axes:
            axes.setdefault("intra_op", [1])
            axes.setdefault("inter_op", [1])
            return super().grid(backends, None, **axes)
        n = axes.pop("omp")
        cells = super().grid(backends, None, intra_op=n, inter_op=n, omp=n, **axes)
        return [c for c in cells if c["intra_op"] == c["inter_op"] == c["omp"]]

    def run(self, work, intra_op, inter_op, omp, **_):
        import tempfile
        from pathlib import Path

        from ..cnn import train_cnn

        intra, inter = intra_op, inter_op
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
        steady = epochs[1:]  # the epochs after the first (none with --epochs 1: no steady figure)
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
            "epoch_s": sum(steady) / len(steady) if steady else None,
            "threads": max(res.intra_op, res.inter_op, res.omp or 1),
            "import_s": res.import_s,
            "train_samples": res.n_train_samples,
            "data_autotune": res.data_autotune,
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
        same epochs and their first-epoch training loss agrees to
        :data:`LOSS_RTOL` relative (same data, initial weights and batch
        order; a different seed moves it by percents).
        """
        la, lb = a.get("loss", ()), b.get("loss", ())
        if a.get("val_tracks") != b.get("val_tracks") or len(la) != len(lb) or not la:
            return False
        return abs(la[0] - lb[0]) <= LOSS_RTOL * max(abs(la[0]), abs(lb[0]))
