"""Log-mel images of the dataset over every backend x workers (the images path)."""

from .common import StageBenchmark


class TimeImages(StageBenchmark):
    """``genre_hpc.images.make_images`` into a fresh folder per run; arrays compared to serial's."""

    stage_name = "images"
