"""NFIQ 2 unified quality score from the 69 native quality measures.

The score is NIST NFIQ 2.3's random forest (100 trees), converted once to an
ONNX tree ensemble (``nfiq2_rf.onnx``, see ``nfiq2_rf.md`` and
``convert_nfiq2_forest.py``). Each tree votes 0 or 1; NFIQ 2 reports
``floor(votes / ntrees * 100 + 0.5)``, which with 100 trees is the number of
trees voting "good quality". The features are cast to float32 before the
comparisons, exactly as NFIQ 2 fills OpenCV's ``CV_32F`` sample, so values
that sit on a split threshold take the same branch as in NFIQ 2.

NaN handling
------------
NFIQ 2 never feeds NaN to its forest: a native measure whose computation
fails is set to 0 (``nfiq2_qualityfeatures_impl.cpp``: "feature extraction
error is mapped to a score of 0"). Here the default ``nan="raise"`` refuses a
NaN feature with a :class:`ValueError` naming it, because a NaN usually means
a bug upstream; ``nan="zero"`` applies NFIQ 2's mapping instead. (Inside the
tree ensemble a NaN would silently take the right branch of every split.)

The inference session is created on first use and cached for the process
(:func:`load_model`): it holds an immutable model, takes no per-call state and
is thread-safe for ``run``, so caching it is not hidden state in the sense of
the project rules; it only saves ~0.3 s per call.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import onnxruntime

#: The 69 NFIQ 2 native quality measures, in the order the forest reads them
#: (``rfFeatureOrder`` in NFIQ 2's ``RandomForestML.cpp``; note ``MMB`` before ``Mu``).
FEATURE_NAMES: tuple[str, ...] = (
    *(f"FDA_Bin10_{i}" for i in range(10)), "FDA_Bin10_Mean", "FDA_Bin10_StdDev",
    "FingerJetFX_MinCount_COMMinRect200x200", "FingerJetFX_MinutiaeCount",
    "FJFXPos_Mu_MinutiaeQuality_2", "FJFXPos_OCL_MinutiaeQuality_80",
    "ImgProcROIArea_Mean",
    *(f"LCS_Bin10_{i}" for i in range(10)), "LCS_Bin10_Mean", "LCS_Bin10_StdDev",
    "MMB", "Mu",
    *(f"OCL_Bin10_{i}" for i in range(10)), "OCL_Bin10_Mean", "OCL_Bin10_StdDev",
    *(f"OF_Bin10_{i}" for i in range(10)), "OF_Bin10_Mean", "OF_Bin10_StdDev",
    "OrientationMap_ROIFilter_CoherenceRel", "OrientationMap_ROIFilter_CoherenceSum",
    *(f"RVUP_Bin10_{i}" for i in range(10)), "RVUP_Bin10_Mean", "RVUP_Bin10_StdDev",
)
N_FEATURES = len(FEATURE_NAMES)

MODEL_PATH = Path(__file__).with_name("nfiq2_rf.onnx")
#: sha256 of the committed ``nfiq2_rf.onnx`` (also recorded in ``nfiq2_rf.md``).
MODEL_SHA256 = "b4cfb313f5af6700e99799c43bf35a0e78b09019f9d5319962c0da0b2c22fee5"
#: MD5 NIST publishes for its NFIQ 2.3 model file.
NIST_MODEL_HASH = "b4a1e7586b3be906f9770e4b77768038"

_INPUT = "features"
_OUTPUT = "votes"

FeatureRow = Union[Mapping[str, float], "np.ndarray"]


@functools.lru_cache(maxsize=4)
def load_model(path: str | None = None) -> "onnxruntime.InferenceSession":
    """Open the NFIQ 2 forest as an onnxruntime session (cached per process).

    Parameters
    ----------
    path : str, optional
        Another copy of the model; default the packaged ``nfiq2_rf.onnx``,
        whose sha256 is checked against :data:`MODEL_SHA256`.

    Returns
    -------
    onnxruntime.InferenceSession
        Single-threaded CPU session with input ``features`` (float32
        ``[N, 69]``) and output ``votes`` (float32 ``[N, 1]``).

    Raises
    ------
    FileNotFoundError
        If the model file is missing.
    ValueError
        If the packaged model's hash or its recorded feature order differs.
    """
    import onnxruntime as ort

    model_path = Path(path) if path is not None else MODEL_PATH
    if not model_path.is_file():
        raise FileNotFoundError(f"NFIQ 2 model not found: {model_path}")
    data = model_path.read_bytes()
    if path is None:
        digest = hashlib.sha256(data).hexdigest()
        if digest != MODEL_SHA256:
            raise ValueError(f"{model_path}: sha256 {digest} does not match the model card ({MODEL_SHA256})")
    opts = ort.SessionOptions()
    # One thread: a single print is scored in microseconds, and the machine's
    # cores belong to the image measures; results do not depend on threads.
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    names = sess.get_modelmeta().custom_metadata_map.get("feature_names", "")
    if tuple(names.split(",")) != FEATURE_NAMES:
        raise ValueError(f"{model_path}: feature order recorded in the model differs from FEATURE_NAMES")
    return sess


def _ntrees(sess) -> int:
    return int(sess.get_modelmeta().custom_metadata_map.get("ntrees", "100"))


def feature_matrix(rows: Iterable[FeatureRow] | "np.ndarray", *, nan: str = "raise") -> "np.ndarray":
    """Stack feature rows into the forest's float32 ``(N, 69)`` input.

    Parameters
    ----------
    rows : iterable of mapping or array
        Each row a mapping from NFIQ 2 name to value (extra keys are ignored)
        or a length-69 sequence in :data:`FEATURE_NAMES` order; or an ``(N, 69)``
        array.
    nan : {"raise", "zero"}
        What to do with NaN values (see the module docstring).

    Returns
    -------
    np.ndarray
        float32 ``(N, 69)``.

    Raises
    ------
    ValueError
        On a missing feature, a wrong length, or a NaN with ``nan="raise"``.
    """
    import numpy as np

    if nan not in ("raise", "zero"):
        raise ValueError(f"nan must be 'raise' or 'zero', not {nan!r}")
    if isinstance(rows, np.ndarray) and rows.ndim == 2:
        x = np.asarray(rows, dtype=np.float64)
    else:
        out = []
        for i, row in enumerate(rows):
            if isinstance(row, Mapping):
                missing = [k for k in FEATURE_NAMES if k not in row]
                if missing:
                    raise ValueError(f"row {i}: missing NFIQ 2 features {missing[:5]}"
                                     f"{' ...' if len(missing) > 5 else ''}")
                out.append([float(row[k]) for k in FEATURE_NAMES])
            else:
                out.append(np.asarray(row, dtype=np.float64).ravel())
        x = np.asarray(out, dtype=np.float64).reshape(len(out), -1) if out else np.empty((0, N_FEATURES))
    if x.ndim != 2 or x.shape[1] != N_FEATURES:
        raise ValueError(f"expected {N_FEATURES} features per row, got shape {x.shape}")
    bad = np.isnan(x)
    if bad.any():
        if nan == "raise":
            r, c = np.argwhere(bad)[0]
            names = sorted({FEATURE_NAMES[j] for j in np.flatnonzero(bad.any(axis=0))})
            raise ValueError(f"NaN feature value(s) {names} (first in row {r}, {FEATURE_NAMES[c]});"
                             " pass nan='zero' to map them to 0 as NFIQ 2 does")
        x = np.where(bad, 0.0, x)
    # NFIQ 2 fills a CV_32F sample: the cast to float32 is part of the model.
    return x.astype(np.float32)


def score_batch(rows: Iterable[FeatureRow] | "np.ndarray", *, nan: str = "raise") -> "np.ndarray":
    """NFIQ 2 unified scores for many feature rows.

    Parameters
    ----------
    rows : iterable of mapping or array, or ``(N, 69)`` array
        See :func:`feature_matrix`.
    nan : {"raise", "zero"}
        NaN policy (module docstring).

    Returns
    -------
    np.ndarray
        int64 ``(N,)`` scores in 0..100.
    """
    import numpy as np

    x = feature_matrix(rows, nan=nan)
    if len(x) == 0:
        return np.empty(0, dtype=np.int64)
    sess = load_model()
    votes = sess.run([_OUTPUT], {_INPUT: x})[0][:, 0].astype(np.float64)
    # NFIQ 2: floor(raw / ntrees * 100 + 0.5); the identity for 100 trees.
    return np.floor(votes / _ntrees(sess) * 100.0 + 0.5).astype(np.int64)


def score(features: FeatureRow, *, nan: str = "raise") -> int:
    """NFIQ 2 unified score (0..100) of one print from its 69 native measures.

    Parameters
    ----------
    features : mapping or array
        Mapping from NFIQ 2 measure name to value (extra keys ignored), or a
        length-69 array in :data:`FEATURE_NAMES` order.
    nan : {"raise", "zero"}
        NaN policy (module docstring).

    Returns
    -------
    int
        The number of the 100 trees voting "good quality".
    """
    return int(score_batch([features], nan=nan)[0])
