"""numba kernels of the ``fast`` extractor (see :mod:`genre_hpc.features.fast`).

Each kernel mirrors the arithmetic of the librosa function it replaces:
where librosa rounds to float32 these round to float32 at the same point,
where librosa works in float64 these do too, and sums are taken in numpy's
order (sequential or pairwise), so the results are librosa's to the bit
(exceptions are noted per kernel).

All kernels take the spectrogram frame-major, ``(n_frames, n_bins)``
C-contiguous: the same memory as librosa's Fortran-ordered ``(n_bins, n_frames)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_TINY32 = np.float32(np.finfo(np.float32).tiny)


# --- zero crossings ----------------------------------------------------------------


@njit(cache=True, nogil=True)
def zero_crossing_stats(y, threshold, frame_length, hop_length):
    """``(zero_crossing_rate(y).mean(), zero_crossings(y, pad=False).sum())``.

    librosa: a sample is "negative" when ``y < -threshold`` (values within
    ``[-threshold, threshold]`` count as +0); a crossing at ``i`` is a change
    of that sign bit between ``y[i-1]`` and ``y[i]``. The rate pads ``y`` by
    ``frame_length // 2`` edge copies (which add no crossings), frames it and
    counts crossings inside each frame (the first sample of a frame is not a
    crossing: ``pad=False``), divided by ``frame_length``.
    """
    n = y.shape[0]
    half = frame_length // 2
    n_pad = n + 2 * half
    # cs[p] = crossings at padded positions 1..p (position p = half + i <-> y[i])
    cs = np.zeros(n_pad, np.int64)
    neg_prev = y[0] < -threshold
    total = 0
    for i in range(1, n):
        neg = y[i] < -threshold
        if neg != neg_prev:
            total += 1
        neg_prev = neg
        cs[half + i] = total
    for p in range(half + n, n_pad):
        cs[p] = total
    n_frames = 1 + (n_pad - frame_length) // hop_length
    frames_total = 0
    for j in range(n_frames):
        a = j * hop_length
        frames_total += cs[a + frame_length - 1] - cs[a]
    zcr_mean = (frames_total / frame_length) / n_frames
    return zcr_mean, total


# --- spectral shape: centroid, bandwidth (p = 2, 3, 4), roll-off ------------------------


@njit(cache=True)
def _pairwise_leaf(a, lo, n):
    """numpy's ``pairwise_sum`` for ``n <= 128`` (8 accumulators, then the rest)."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0 = a[lo]
    r1 = a[lo + 1]
    r2 = a[lo + 2]
    r3 = a[lo + 3]
    r4 = a[lo + 4]
    r5 = a[lo + 5]
    r6 = a[lo + 6]
    r7 = a[lo + 7]
    i = 8
    m = n - (n % 8)
    while i < m:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True)
def _pairwise_sum(a, stack, acc):
    """numpy's pairwise summation of the float64 vector ``a`` (``np.add.reduce``).

    numpy recurses: ``n <= 128`` is a leaf (:func:`_pairwise_leaf`), longer
    runs split at ``n2 = n // 2`` rounded down to a multiple of 8 and add
    ``sum(left) + sum(right)``. numba caches recursive functions badly, so
    this walks the same tree with an explicit stack (workspaces: ``stack``
    int64 ``(64, 3)``, ``acc`` float64 ``(64,)`` for the left halves' sums).
    """
    n = a.shape[0]
    if n <= 128:
        return _pairwise_leaf(a, 0, n)
    sp = 0
    stack[0, 0] = 0  # lo
    stack[0, 1] = n  # length
    stack[0, 2] = 0  # state: 0 new, 1 left done, 2 right done
    ret = 0.0
    while True:
        lo = stack[sp, 0]
        m = stack[sp, 1]
        if m <= 128:
            ret = _pairwise_leaf(a, lo, m)
            sp -= 1
            while sp >= 0:
                if stack[sp, 2] == 1:  # the left half is done: keep it, do the right half
                    acc[sp] = ret
                    stack[sp, 2] = 2
                    n2 = stack[sp, 1] // 2
                    n2 -= n2 % 8
                    sp += 1
                    stack[sp, 0] = stack[sp - 1, 0] + n2
                    stack[sp, 1] = stack[sp - 1, 1] - n2
                    stack[sp, 2] = 0
                    break
                ret = acc[sp] + ret  # both halves done
                sp -= 1
            if sp < 0:
                return ret
            continue
        stack[sp, 2] = 1
        n2 = m // 2
        n2 -= n2 % 8
        sp += 1
        stack[sp, 0] = lo
        stack[sp, 1] = n2
        stack[sp, 2] = 0


@njit(cache=True)
def _np_sum(a, stack, acc):
    """``np.sum`` of a contiguous float64 vector: 0 + pairwise sum, like numpy."""
    return 0.0 + _pairwise_sum(a, stack, acc)


@njit(cache=True, nogil=True)
def spectral_shape(S, freq, roll_percent):
    """Per-frame centroid, bandwidths p=2,3,4 and roll-off of magnitudes ``S``.

    As librosa: ``util.normalize(S, norm=1)`` divides in float64 and stores
    float32; frequency sums are numpy's pairwise float64 sums (librosa's
    spectrogram is Fortran-ordered, so it reduces a contiguous axis); the
    roll-off compares a float32 cumulative sum with ``float32(0.85) * total``.
    Only ``deviation ** 3`` / ``** 4`` (numpy calls ``pow``, here products)
    can differ from librosa's in the last bit.
    """
    n_frames, n_bins = S.shape
    cent = np.empty(n_frames)
    bw2 = np.empty(n_frames)
    bw3 = np.empty(n_frames)
    bw4 = np.empty(n_frames)
    roll = np.empty(n_frames)
    snorm = np.empty(n_bins)
    buf = np.empty(n_bins)
    b3 = np.empty(n_bins)
    b4 = np.empty(n_bins)
    stack = np.empty((64, 3), np.int64)
    part = np.empty(64)
    for t in range(n_frames):
        for k in range(n_bins):
            buf[k] = np.float64(S[t, k])
        length = _np_sum(buf, stack, part)
        if length < _TINY32:
            length = 1.0
        for k in range(n_bins):
            v = np.float64(np.float32(np.float64(S[t, k]) / length))
            snorm[k] = v
            buf[k] = freq[k] * v
        c = _np_sum(buf, stack, part)
        cent[t] = c
        for k in range(n_bins):
            d = abs(c - freq[k])
            buf[k] = snorm[k] * (d * d)
            b3[k] = snorm[k] * (d * d * d)
            b4[k] = snorm[k] * (d * d * d * d)
        bw2[t] = np.sqrt(_np_sum(buf, stack, part))
        bw3[t] = _np_sum(b3, stack, part) ** (1.0 / 3.0)
        bw4[t] = _np_sum(b4, stack, part) ** 0.25
        # roll-off: float32 cumulative sum, threshold in float32
        acc = np.float32(0.0)
        for k in range(n_bins):
            acc += S[t, k]
        thr = roll_percent * acc
        acc = np.float32(0.0)
        r = freq[n_bins - 1]
        for k in range(n_bins):
            acc += S[t, k]
            if acc >= thr:
                r = freq[k]
                break
        roll[t] = r
    return cent, bw2, bw3, bw4, roll


# --- piptrack peaks (for estimate_tuning) -----------------------------------------------


@njit(cache=True, nogil=True)
def pip_peaks(P, lo, hi, sr, n_fft, threshold):
    """``piptrack(S=P)``'s non-zero (pitch, magnitude) pairs, in any order.

    Peaks: bins ``lo <= k < hi`` (``fmin <= f < fmax``) that are local maxima
    over frequency of ``P * (P > threshold * max(P[frame]))``; pitch and
    magnitude by parabolic interpolation of ``P`` with librosa's dtypes.
    """
    n_frames, n_bins = P.shape
    nmax = n_frames * max(hi - lo, 0)
    pitches = np.empty(nmax, np.float32)
    mags = np.empty(nmax, np.float32)
    m = 0
    for t in range(n_frames):
        mx = P[t, 0]
        for k in range(1, n_bins):
            if P[t, k] > mx:
                mx = P[t, k]
        ref = threshold * mx  # float32 * float32
        for k in range(lo, hi):
            x0 = P[t, k] if P[t, k] > ref else np.float32(0.0)
            if k == 0:
                continue
            xm = P[t, k - 1] if P[t, k - 1] > ref else np.float32(0.0)
            if k == n_bins - 1:
                if not x0 > xm:
                    continue
            else:
                xp = P[t, k + 1] if P[t, k + 1] > ref else np.float32(0.0)
                if not (x0 > xm and x0 >= xp):
                    continue
            # parabolic interpolation of P (librosa's numba stencil: float64 maths)
            if k == n_bins - 1:
                shift = np.float32(0.0)
            else:
                a = np.float64(P[t, k + 1] + P[t, k - 1]) - 2 * np.float64(P[t, k])
                b = np.float64(P[t, k + 1] - P[t, k - 1]) / 2
                if abs(b) >= abs(a):
                    shift = np.float32(0.0)
                else:
                    shift = np.float32(-b / a)
            # np.gradient along frequency (float32)
            if k == n_bins - 1:
                avg = P[t, k] - P[t, k - 1]
            else:
                avg = (P[t, k + 1] - P[t, k - 1]) / np.float32(2.0)
            dskew = np.float32(0.5) * avg * shift
            mags[m] = P[t, k] + dskew
            pitches[m] = np.float32((k + np.float64(shift)) * sr / n_fft)
            m += 1
    return pitches[:m], mags[:m]


# --- HPSS means ------------------------------------------------------------------------------


@njit(cache=True)
def _reflect(i, n):
    """scipy.ndimage ``mode='reflect'`` index (``d c b a | a b c d | d c b a``)."""
    if 0 <= i < n:
        return i
    m = i % (2 * n)
    if m >= n:
        m = 2 * n - 1 - m
    return m


@njit(cache=True)
def _insertion_sort(buf, n):
    for i in range(1, n):
        v = buf[i]
        j = i - 1
        while j >= 0 and buf[j] > v:
            buf[j + 1] = buf[j]
            j -= 1
        buf[j + 1] = v


@njit(cache=True)
def _replace_sorted(buf, n, old, new):
    """Replace one ``old`` by ``new`` in the sorted ``buf[:n]``, keeping it sorted."""
    if old == new:
        return
    lo = 0
    hi = n - 1
    while lo < hi:  # first index with buf[i] >= old (old is present)
        mid = (lo + hi) // 2
        if buf[mid] < old:
            lo = mid + 1
        else:
            hi = mid
    p = lo
    if new > old:
        while p + 1 < n and buf[p + 1] < new:
            buf[p] = buf[p + 1]
            p += 1
    else:
        while p > 0 and buf[p - 1] > new:
            buf[p] = buf[p - 1]
            p -= 1
    buf[p] = new


@njit(cache=True)
def _median_run_time(S, k, t0, n_run, kernel, buf, out):
    """``out[i]`` = median of ``S[reflect(t0 + i - h .. t0 + i + h), k]`` (a run of frames)."""
    n_frames = S.shape[0]
    h = kernel // 2
    for j in range(kernel):
        buf[j] = S[_reflect(t0 + j - h, n_frames), k]
    _insertion_sort(buf, kernel)
    out[0] = buf[h]
    for i in range(1, n_run):
        t = t0 + i
        _replace_sorted(buf, kernel, S[_reflect(t - 1 - h, n_frames), k], S[_reflect(t + h, n_frames), k])
        out[i] = buf[h]


@njit(cache=True)
def _median_column_freq(S, t, kernel, buf, out):
    """``out[k]`` = median of ``S[t, reflect(k - h .. k + h)]`` for every bin ``k``."""
    n_bins = S.shape[1]
    h = kernel // 2
    for j in range(kernel):
        buf[j] = S[t, _reflect(j - h, n_bins)]
    _insertion_sort(buf, kernel)
    out[0] = buf[h]
    for k in range(1, n_bins):
        _replace_sorted(buf, kernel, S[t, _reflect(k - 1 - h, n_bins)], S[t, _reflect(k + h, n_bins)])
        out[k] = buf[h]


@njit(cache=True)
def _median_freq_at(S, t, k, kernel, buf):
    """Median of ``S[t, reflect(k - h .. k + h)]`` for one bin."""
    n_bins = S.shape[1]
    h = kernel // 2
    for j in range(kernel):
        buf[j] = S[t, _reflect(k + j - h, n_bins)]
    _insertion_sort(buf, kernel)
    return buf[h]


@njit(cache=True)
def _softmask_pair(h, p):
    """``(softmask(h, p, power=2, split_zeros=True), softmask(p, h, ...))`` in float32."""
    z = h if h >= p else p
    if z < _TINY32:
        return np.float32(0.5), np.float32(0.5)
    a = h / z
    a = a * a
    b = p / z
    b = b * b
    return a / (a + b), b / (b + a)


@njit(cache=True)
def _masked(s, mask, re, im):
    """``S * mask * phase`` (complex64 arithmetic of ``librosa.decompose.hpss``)."""
    nz = s if s != 0 else np.float32(1.0)
    pr = re / nz + (np.float32(1.0) if s == 0 else np.float32(0.0))
    pi = im / nz
    sm = s * mask
    return sm * pr, sm * pi


@njit(cache=True)
def _median_time_weighted(S, frames, weights, half, out):
    """Medians over time for a few frames at once, for every bin.

    The windows of the frames near an edge reflect onto a small set of
    frames: ``frames`` (``nf <= 64``) with multiplicity ``weights[i, q]`` of
    ``frames[q]`` in the window of output ``i``. Per bin, the ``nf`` values
    are sorted once and each median is the element of rank ``half`` of its
    multiset. Magnitudes are >= 0, so their float32 bit patterns sort like
    the values: a value and its index ``q`` are sorted as one int64 key.
    """
    nf = frames.shape[0]
    n_out = weights.shape[0]
    n_bins = S.shape[1]
    block = np.empty((n_bins, nf), np.int64)
    for q in range(nf):
        row = S[frames[q]].view(np.int32)
        for k in range(n_bins):
            block[k, q] = (np.int64(row[k]) << 6) | q
    keys = np.empty(nf, np.int64)
    for k in range(n_bins):
        for q in range(nf):
            v = block[k, q]
            j = q - 1
            while j >= 0 and keys[j] > v:
                keys[j + 1] = keys[j]
                j -= 1
            keys[j + 1] = v
        for i in range(n_out):
            cum = 0
            for q in range(nf):
                cum += weights[i, keys[q] & 63]
                if cum > half:
                    out[i, k] = S[frames[keys[q] & 63], k]
                    break


@njit(cache=True, nogil=True)
def hpss_parts(S, Dre, Dim, kernel, edge, run_len, run_frames, run_nf, run_weights):
    """The pieces of ``mean(librosa.effects.hpss(y))`` that need median filters.

    ``edge`` lists the edge frames, whose full masked columns are returned;
    every other frame is interior and contributes only ``Re X[0, t] - Re X[1, t]``.
    The edge frames come in runs of consecutive frames (the start and the
    end of the chunk): run ``r`` is the next ``run_len[r]`` entries of
    ``edge``; their time windows cover the ``run_nf[r]`` frames
    ``run_frames[r, :run_nf[r]]`` with multiplicities ``run_weights`` (one row
    per edge frame; see :func:`_median_time_weighted`).

    Returns ``(interior_h, interior_p, Hh_re, Hh_im, Hp_re, Hp_im)``:
    ``interior_*`` is ``sum_t Re(X[0, t]) - Re(X[1, t])`` over the interior
    frames (``X`` the masked harmonic/percussive STFT), ``H*_re/H*_im`` are
    the masked columns of the edge frames. The harmonic median runs over
    time (per bin), the percussive one over frequency (per frame), both
    'reflect' at the borders, like ``scipy.ndimage.median_filter``.
    """
    n_frames, n_bins = S.shape
    half = kernel // 2
    buf = np.empty(kernel, np.float32)
    is_edge = np.zeros(n_frames, np.bool_)
    n_edge = edge.shape[0]
    for e in range(n_edge):
        is_edge[edge[e]] = True
    # interior frames: bins 0 and 1 only
    harm01 = np.empty((2, n_frames), np.float32)
    for kb in range(2):
        _median_run_time(S, kb, 0, n_frames, kernel, buf, harm01[kb])
    acc_h = 0.0
    acc_p = 0.0
    for t in range(n_frames):
        if is_edge[t]:
            continue
        for kb in range(2):
            perc = _median_freq_at(S, t, kb, kernel, buf)
            mh, mp = _softmask_pair(harm01[kb, t], perc)
            hr, _ = _masked(S[t, kb], mh, Dre[t, kb], Dim[t, kb])
            pr, _ = _masked(S[t, kb], mp, Dre[t, kb], Dim[t, kb])
            if kb == 0:
                acc_h += hr
                acc_p += pr
            else:
                acc_h -= hr
                acc_p -= pr
    # edge frames: full columns
    harm = np.empty((n_edge, n_bins), np.float32)
    e0 = 0
    for r in range(run_len.shape[0]):
        n_run = run_len[r]
        nf = run_nf[r]
        _median_time_weighted(
            S, run_frames[r, :nf], run_weights[e0 : e0 + n_run, :nf], half, harm[e0 : e0 + n_run]
        )
        e0 += n_run
    perc = np.empty(n_bins, np.float32)
    Hh_re = np.empty((n_edge, n_bins), np.float32)
    Hh_im = np.empty((n_edge, n_bins), np.float32)
    Hp_re = np.empty((n_edge, n_bins), np.float32)
    Hp_im = np.empty((n_edge, n_bins), np.float32)
    for e in range(n_edge):
        t = edge[e]
        _median_column_freq(S, t, kernel, buf, perc)
        for k in range(n_bins):
            mh, mp = _softmask_pair(harm[e, k], perc[k])
            Hh_re[e, k], Hh_im[e, k] = _masked(S[t, k], mh, Dre[t, k], Dim[t, k])
            Hp_re[e, k], Hp_im[e, k] = _masked(S[t, k], mp, Dre[t, k], Dim[t, k])
    return acc_h, acc_p, Hh_re, Hh_im, Hp_re, Hp_im


@njit(cache=True, nogil=True)
def istft_weights(win, win_sq, hop_length, n_frames, length, edge_frames):
    """Weights ``v[e, m]`` with ``sum(istft(X)) = sum_e v[e] . irfft(X[:, t_e])`` + interior.

    ``istft`` overlap-adds ``win * irfft(X[:, t])`` at sample ``t * hop - n_fft // 2``
    and divides by the window sum-square envelope (float32, as librosa's
    ``window_sumsquare``); samples outside ``[0, length)`` are cut.
    """
    n_fft = win.shape[0]
    half = n_fft // 2
    n_edge = edge_frames.shape[0]
    v = np.zeros((n_edge, n_fft))
    for e in range(n_edge):
        t = edge_frames[e]
        for m in range(n_fft):
            p = t * hop_length + m  # index in the padded signal
            n = p - half
            if n < 0 or n >= length:
                continue
            # window_sumsquare at p: float32 accumulation in frame order
            acc = np.float32(0.0)
            s0 = max(0, (p - n_fft) // hop_length)
            for s in range(s0, n_frames):
                off = p - s * hop_length
                if off < 0:
                    break
                if off < n_fft:
                    acc = np.float32(np.float64(acc) + win_sq[off])
            if acc > _TINY32:
                v[e, m] = win[m] / np.float64(acc)
            else:
                v[e, m] = win[m]
    return v


# --- librosa.feature.delta (scipy.signal.savgol_filter, mode="interp") ------------------------


@njit(cache=True, nogil=True)
def savgol_interior(x, fw, symmetric):
    """The interior of ``scipy.ndimage.convolve1d(x, coeffs, axis=-1)``, ``fw = coeffs[::-1]``.

    Mirrors ndimage's ``NI_Correlate1D``: float64 accumulation, pairs of
    samples for (anti)symmetric filters, rounding to ``x.dtype`` at the end.
    The first and last ``len(fw) // 2`` outputs are left at 0 (savgol's
    ``interp`` mode replaces them by polynomial fits).
    """
    n_rows, n = x.shape
    h = fw.shape[0] // 2
    out = np.zeros((n_rows, n), x.dtype)
    for r in range(n_rows):
        for t in range(h, n - h):
            if symmetric > 0:
                acc = np.float64(x[r, t]) * fw[h]
                for jj in range(-h, 0):
                    acc += (np.float64(x[r, t + jj]) + np.float64(x[r, t - jj])) * fw[h + jj]
            elif symmetric < 0:
                acc = np.float64(x[r, t]) * fw[h]
                for jj in range(-h, 0):
                    acc += (np.float64(x[r, t + jj]) - np.float64(x[r, t - jj])) * fw[h + jj]
            else:
                acc = np.float64(x[r, t + h]) * fw[2 * h]
                for jj in range(-h, h):
                    acc += np.float64(x[r, t + jj]) * fw[h + jj]
            out[r, t] = acc
    return out
