"""An embedded, deterministic synthetic stand-in for GTZAN.

No network and no data files: :func:`write_dataset` renders a GTZAN-layout
folder (``<out>/<genre>/<genre>.000NN.wav``, 22050 Hz mono 16-bit PCM) from
code. Every track is a small piece of music in one of the ten GTZAN genres,
rendered by a vectorised numpy "band": a step sequencer on a beat grid (with
swing and rubato), one-shot drum samples (sine-sweep kicks, noise snares and
hats, inharmonic cymbals), pitched instruments by harmonic-frame synthesis
(additive spectra with per-harmonic decay, which gives plucked
Karplus-Strong-like strings, pianos, organs, strings, voices), per-genre
chord progressions, bass lines, comping and melodies, bus effects
(tanh distortion with a cabinet filter, echo, a noise-tail reverb) and a
"recording" stage (EQ, soft-clip compression, noise floor, level).

The random choices of a track (tempo, key, progression, patterns, mix
levels, noise floor, detune, ...) come from one generator seeded with
``(seed, genre number, index)`` only, so a track does not depend on which
other tracks are rendered or in what order. See ``docs/synthetic-dataset.md``
for the design and the measured classification accuracies.

The package, from the bottom up:

=================  ==========================================================
``constants``      VERSION, GENRES, SAMPLE_RATE
``theory``         chords, scales, MIDI pitch, voicings
``dsp``            filters, fades, tanh drive, reverb impulse response
``instruments``    the harmonic-frame :class:`~.instruments.Voice` and the band's voices
``drums``          one-shot drum samples and per-track kits
``arrangement``    the :class:`~.arrangement.Band` sequencer, patterns, melodies
``genres``         one arranger module per genre, and their registry
``mixing``         bus levels and effects, reverb, the "recording"
``track``          :func:`synthesize_track`, :func:`track_tempo`
``dataset``        :func:`write_dataset`, :func:`default_dataset`, the manifest
=================  ==========================================================
"""

from __future__ import annotations

from .constants import GENRES, SAMPLE_RATE, VERSION
from .dataset import MANIFEST, default_dataset, track_name, write_dataset
from .genres import TEMPO_RANGES
from .track import synthesize_track, track_tempo

__all__ = [
    "GENRES",
    "VERSION",
    "SAMPLE_RATE",
    "TEMPO_RANGES",
    "MANIFEST",
    "synthesize_track",
    "write_dataset",
    "default_dataset",
    "track_name",
    "track_tempo",
]
