"""CNN training over intra-op x inter-op threads, each configuration in a fresh process.

TensorFlow fixes its thread pools when it first runs an op, so ``genre_hpc.cnn.train_cnn``
trains in a child process that sets ``OMP_NUM_THREADS`` and the intra/inter-op counts before
importing TensorFlow and reads them back; the process start and the import are ``track_startup``,
never part of the training time. The parameters are the stage's axes, ``intra_op`` x
``inter_op`` x ``omp`` (OMP threads: 1); the speed-up baseline is 1 thread everywhere, and
efficiency is divided by the largest pool. Thread counts are 1, 2, 4 on the full grid and those
up to the machine's cores on the core grid (``benchmarks.common.thread_counts``). The model is
the study's network (the ``seed`` preset) on 32 x 32 windows for 5 epochs (the least that gives
it a useful accuracy on the default data), small enough for the suite's budget;
``genre-hpc scale --stage cnn --preset seed`` runs it at full size.
"""

from .bench_train import _ModelStage
from .common import grid, thread_counts

THREADS = thread_counts((1, 2, 4))
#: epochs of a run: on the default scale's 200 tracks the study's network reached a track
#: accuracy of 0.73 (intra-op 1) and 0.72 (intra-op 2) after 5 epochs, 0.67 after 3
CNN_EPOCHS = 5


class TimeCnn(_ModelStage):
    """Trained on the classifiers' dataset (the validation split needs 2+ tracks per genre).

    The core grid times the intra-op pool (1 -> 2 threads, inter-op 1): every configuration is
    a fresh TensorFlow process per run, the suite's most expensive samples; the full grid adds
    the inter-op counts."""

    stage_name = "cnn"
    axis_values = {"intra_op": THREADS, "inter_op": THREADS if grid() == "full" else [1], "omp": [1]}
    prepare_options = {"preset": "seed", "epochs": CNN_EPOCHS, "image_size": 32}
