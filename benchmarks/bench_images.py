"""Log-mel images of the dataset over backend x workers (the images path): every backend on the
full grid, one per family plus ``process`` on the core grid (the extraction stage covers every
backend on the same tracks)."""

from .common import StageBenchmark, variant_backends


class TimeImages(StageBenchmark):
    """``genre_hpc.images.make_images`` into a fresh folder per run; arrays compared to serial's."""

    stage_name = "images"
    axis_values = {"backend": variant_backends()}
