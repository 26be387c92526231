"""Convert NFIQ 2.3's random forest (plain arrays) to an ONNX tree ensemble.

Run once; the output ``models/nfiq2_rf.onnx`` is committed and shipped as
package data, so neither the npz nor ``onnx`` is needed at run time::

    .venv/bin/python models/convert_nfiq2_forest.py \\
        /work/shared/quality-reference/nfiq2_forest.npz models/nfiq2_rf.onnx

Input layout (see the quality-reference README, "nfiq2_forest.npz"): flat node
arrays ``var`` (feature index, -1 for a leaf), ``thr`` (float32 threshold),
``left``/``right`` (child index counted from the tree's own root, -1 at a
leaf), ``value`` (0/1 class label, used at leaves only), with ``tree_off`` /
``tree_n`` delimiting the 100 trees.

Output: one ``ai.onnx.ml.TreeEnsembleRegressor`` (opset 3), input ``features``
float32 ``[N, 69]``, output ``votes`` float32 ``[N, 1]``. Every split is
``BRANCH_LEQ`` (go to the *true* branch, i.e. the left child, when
``x[var] <= thr``) with the float32 threshold copied bit for bit; every leaf
carries weight 0.0 or 1.0 and the aggregate is ``SUM`` with base value 0, so
the output is the number of trees voting "good quality", which with 100 trees
*is* the NFIQ 2 unified score (``floor(votes / 100 * 100 + 0.5)``).

Because onnxruntime compares a float32 input against float32 thresholds, the
comparison is exactly OpenCV's ``RTrees::predict`` on NFIQ 2's ``CV_32F``
sample; :func:`verify` checks this against a numpy traversal, on random
vectors and on vectors that sit exactly on (and one ulp either side of) every
threshold.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

#: The forest this converter was written for (quality-reference README).
EXPECTED_NPZ_MD5 = "c439c4cb9b05ed2c3507c0f0b7e140f3"
EXPECTED_NPZ_SHA256 = "7bdf1fffe72801f7a0cac12372cd8486436c32dadb810c4d5bc43c15ca98feab"
NIST_MODEL_HASH = "b4a1e7586b3be906f9770e4b77768038"

INPUT_NAME = "features"
OUTPUT_NAME = "votes"


def _file_hashes(path: Path) -> tuple[str, str]:
    data = path.read_bytes()
    return hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()


def load_forest(npz_path: Path) -> dict[str, np.ndarray]:
    """Load and validate the forest arrays.

    Parameters
    ----------
    npz_path : Path
        ``nfiq2_forest.npz``.

    Returns
    -------
    dict
        The arrays, keyed as in the npz.

    Raises
    ------
    ValueError
        If the file is not the expected forest or its structure is inconsistent.
    """
    npz_path = Path(npz_path)
    md5, _ = _file_hashes(npz_path)
    if md5 != EXPECTED_NPZ_MD5:
        raise ValueError(f"{npz_path}: md5 {md5} is not the NFIQ 2.3 forest ({EXPECTED_NPZ_MD5})")
    with np.load(npz_path, allow_pickle=False) as z:
        f = {k: z[k] for k in z.files}
    ntrees = int(f["ntrees"])
    off, n = f["tree_off"].astype(np.int64), f["tree_n"].astype(np.int64)
    if len(off) != ntrees or off[0] != 0 or np.any(off[1:] != off[:-1] + n[:-1]):
        raise ValueError(f"{npz_path}: tree_off/tree_n inconsistent")
    if off[-1] + n[-1] != len(f["var"]):
        raise ValueError(f"{npz_path}: node count does not match tree sizes")
    leaf = f["var"] < 0
    if np.any(f["left"][leaf] != -1) or np.any(f["right"][leaf] != -1):
        raise ValueError(f"{npz_path}: a leaf has children")
    tree_of = np.repeat(np.arange(ntrees), n)
    for side in ("left", "right"):
        ch = f[side][~leaf].astype(np.int64)
        if np.any(ch < 0) or np.any(ch >= n[tree_of[~leaf]]):
            raise ValueError(f"{npz_path}: a {side} child points outside its tree")
    if not np.all(np.isin(f["value"][leaf], (0.0, 1.0))):
        raise ValueError(f"{npz_path}: leaf values are not 0/1")
    if f["thr"].dtype != np.float32 or len(f["feature_names"]) != 69:
        raise ValueError(f"{npz_path}: unexpected threshold dtype or feature count")
    return f


def build_model(forest: dict[str, np.ndarray]):
    """Build the ONNX ``TreeEnsembleRegressor`` model from the forest arrays.

    Parameters
    ----------
    forest : dict
        Output of :func:`load_forest`.

    Returns
    -------
    onnx.ModelProto
    """
    import onnx
    from onnx import TensorProto, helper

    var = forest["var"].astype(np.int64)
    thr = forest["thr"].astype(np.float32)
    left = forest["left"].astype(np.int64)
    right = forest["right"].astype(np.int64)
    value = forest["value"].astype(np.float32)
    n = forest["tree_n"].astype(np.int64)
    ntrees = int(forest["ntrees"])
    names = [str(s) for s in forest["feature_names"]]

    tree_ids = np.repeat(np.arange(ntrees, dtype=np.int64), n)
    node_ids = np.concatenate([np.arange(k, dtype=np.int64) for k in n])
    leaf = var < 0
    modes = np.where(leaf, "LEAF", "BRANCH_LEQ").tolist()

    leaf_idx = np.flatnonzero(leaf)
    node = helper.make_node(
        "TreeEnsembleRegressor",
        inputs=[INPUT_NAME],
        outputs=[OUTPUT_NAME],
        domain="ai.onnx.ml",
        name="nfiq2_rf",
        n_targets=1,
        aggregate_function="SUM",
        base_values=[0.0],
        post_transform="NONE",
        nodes_treeids=tree_ids.tolist(),
        nodes_nodeids=node_ids.tolist(),
        nodes_featureids=np.where(leaf, 0, var).tolist(),
        nodes_modes=modes,
        # helper converts to a float (float32) attribute: the npz thresholds are
        # already float32, so the stored values are bit-identical.
        nodes_values=np.where(leaf, np.float32(0), thr).astype(np.float32).tolist(),
        nodes_truenodeids=np.where(leaf, 0, left).tolist(),
        nodes_falsenodeids=np.where(leaf, 0, right).tolist(),
        target_treeids=tree_ids[leaf_idx].tolist(),
        target_nodeids=node_ids[leaf_idx].tolist(),
        target_ids=[0] * len(leaf_idx),
        target_weights=value[leaf_idx].tolist(),
    )
    graph = helper.make_graph(
        [node],
        "nfiq2_rf",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [None, len(names)])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [None, 1])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
        producer_name="ifb1.models.convert_nfiq2_forest",
        doc_string=(
            "NIST NFIQ 2.3 random forest (public-domain software of the US government), "
            f"NIST model hash {NIST_MODEL_HASH}. Output = number of the 100 trees voting "
            "class 1 = NFIQ 2 unified score. Input: the 69 native quality measures as float32."
        ),
    )
    model.ir_version = 8  # broadly readable; nothing here needs a newer IR
    helper.set_model_props(model, {
        "feature_names": ",".join(names),
        "nist_model_hash": NIST_MODEL_HASH,
        "source_npz_sha256": EXPECTED_NPZ_SHA256,
        "ntrees": str(ntrees),
    })
    onnx.checker.check_model(model)
    return model


def traverse(forest: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Reference vote count by walking the npz trees in numpy (float32 compare).

    Parameters
    ----------
    forest : dict
        Output of :func:`load_forest`.
    x : np.ndarray
        ``(N, 69)`` feature rows; cast to float32 as NFIQ 2 does.

    Returns
    -------
    np.ndarray
        ``(N,)`` int vote counts.
    """
    x = np.asarray(x, dtype=np.float32)
    var, thr = forest["var"].astype(np.int64), forest["thr"]
    left, right = forest["left"].astype(np.int64), forest["right"].astype(np.int64)
    rows = np.arange(len(x))
    votes = np.zeros(len(x), dtype=np.int64)
    for root in forest["tree_off"].astype(np.int64):
        node = np.full(len(x), root)
        while True:
            v = var[node]
            inner = v >= 0
            if not inner.any():
                break
            go_left = x[rows, np.maximum(v, 0)] <= thr[node]
            child = np.where(go_left, left[node], right[node]) + root
            node = np.where(inner, child, node)
        votes += forest["value"][node].astype(np.int64)
    return votes


def boundary_vectors(forest: dict[str, np.ndarray], rng: np.random.Generator, n: int) -> np.ndarray:
    """Feature rows that put many features exactly on, or one ulp off, thresholds."""
    var, thr = forest["var"], forest["thr"]
    inner = var >= 0
    per_feature = [thr[inner & (var == j)] for j in range(69)]
    out = np.empty((n, 69), dtype=np.float32)
    for j, t in enumerate(per_feature):
        if len(t) == 0:
            out[:, j] = rng.normal(size=n).astype(np.float32)
            continue
        pick = t[rng.integers(0, len(t), size=n)]
        step = rng.integers(-1, 2, size=n)  # -1 ulp, exact, +1 ulp
        out[:, j] = np.where(step < 0, np.nextafter(pick, np.float32(-np.inf)),
                             np.where(step > 0, np.nextafter(pick, np.float32(np.inf)), pick))
    return out


def verify(model_path: Path, forest: dict[str, np.ndarray], *, n: int = 3000, seed: int = 0) -> int:
    """Compare onnxruntime against :func:`traverse`; return the number of mismatches."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    x_edge = boundary_vectors(forest, rng, n)
    # Random rows spread over each feature's own threshold range.
    var, thr = forest["var"], forest["thr"]
    x_rand = np.empty((n, 69), dtype=np.float32)
    for j in range(69):
        t = thr[(var == j)]
        lo, hi = (float(t.min()), float(t.max())) if len(t) else (0.0, 1.0)
        pad = 0.1 * (hi - lo + 1e-6)
        x_rand[:, j] = rng.uniform(lo - pad, hi + pad, size=n).astype(np.float32)
    x = np.vstack([x_edge, x_rand])
    got = sess.run([OUTPUT_NAME], {INPUT_NAME: x})[0][:, 0]
    want = traverse(forest, x)
    return int(np.sum(got.astype(np.int64) != want) + np.sum(got != np.round(got)))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: convert, verify and print the output's sha256."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("npz", type=Path, help="nfiq2_forest.npz")
    ap.add_argument("out", type=Path, nargs="?", default=Path(__file__).with_name("nfiq2_rf.onnx"))
    args = ap.parse_args(argv)

    forest = load_forest(args.npz)
    model = build_model(forest)
    args.out.write_bytes(model.SerializeToString())
    bad = verify(args.out, forest)
    _, sha = _file_hashes(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes), sha256 {sha}")
    print(f"verification against numpy traversal: {bad} mismatches")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
