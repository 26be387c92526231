"""Tests of the NFIQ 2 forest (ifb1.models.nfiq2) and its converter.

Everything here uses generated feature vectors and the committed ONNX file
itself (thresholds are read from the model, never from quality-reference).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from ifb1.models import nfiq2

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from ifb1.models import convert_nfiq2_forest as conv  # noqa: E402

MODELS_DIR = Path(nfiq2.__file__).parent


def _forest_from_onnx(model) -> dict[str, np.ndarray]:
    """Flat arrays (global node index) of a TreeEnsembleRegressor's trees."""
    (node,) = [n for n in model.graph.node if n.op_type == "TreeEnsembleRegressor"]
    a = {att.name: onnx.helper.get_attribute_value(att) for att in node.attribute}
    tree = np.asarray(a["nodes_treeids"], dtype=np.int64)
    nid = np.asarray(a["nodes_nodeids"], dtype=np.int64)
    order = np.lexsort((nid, tree))
    tree, nid = tree[order], nid[order]
    roots = np.flatnonzero(np.r_[True, tree[1:] != tree[:-1]])
    assert np.all(nid == np.arange(len(nid)) - np.repeat(roots, np.diff(np.r_[roots, len(nid)])))
    modes = np.asarray([m.decode() if isinstance(m, bytes) else m for m in a["nodes_modes"]])[order]
    leaf = modes == "LEAF"
    val = np.zeros(len(nid), dtype=np.float64)
    tt = np.asarray(a["target_treeids"], dtype=np.int64)
    tn = np.asarray(a["target_nodeids"], dtype=np.int64)
    val[roots[tt] + tn] = np.asarray(a["target_weights"], dtype=np.float64)
    return {
        "roots": roots,
        "leaf": leaf,
        "modes": modes,
        "var": np.where(leaf, -1, np.asarray(a["nodes_featureids"])[order]),
        "thr": np.asarray(a["nodes_values"], dtype=np.float32)[order],
        "left": np.asarray(a["nodes_truenodeids"], dtype=np.int64)[order],
        "right": np.asarray(a["nodes_falsenodeids"], dtype=np.int64)[order],
        "value": val,
    }


def _numpy_votes(f: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, int]:
    """Independent float32 traversal; also counts comparisons exactly at a threshold."""
    x = np.asarray(x, dtype=np.float32)
    rows = np.arange(len(x))
    votes = np.zeros(len(x))
    on_threshold = 0
    for root in f["roots"]:
        node = np.full(len(x), root)
        while not f["leaf"][node].all():
            inner = ~f["leaf"][node]
            xv = x[rows, np.maximum(f["var"][node], 0)]
            on_threshold += int(np.sum(inner & (xv == f["thr"][node])))
            child = root + np.where(xv <= f["thr"][node], f["left"][node], f["right"][node])
            node = np.where(inner, child, node)
        votes += f["value"][node]
    return votes, on_threshold


def _boundary_rows(f, rng, n, ulp: int = 0) -> np.ndarray:
    """Rows whose every feature equals some split threshold of that feature (shifted by ulp)."""
    x = rng.normal(size=(n, nfiq2.N_FEATURES)).astype(np.float32)
    for j in range(nfiq2.N_FEATURES):
        t = f["thr"][~f["leaf"] & (f["var"] == j)]
        if len(t):
            v = t[rng.integers(0, len(t), size=n)]
            for _ in range(abs(ulp)):
                v = np.nextafter(v, np.float32(np.inf if ulp > 0 else -np.inf))
            x[:, j] = v
    return x


@pytest.fixture(scope="module")
def model():
    return onnx.load(str(nfiq2.MODEL_PATH))


@pytest.fixture(scope="module")
def forest(model):
    return _forest_from_onnx(model)


def test_model_file_hash_matches_code_and_card():
    digest = hashlib.sha256(nfiq2.MODEL_PATH.read_bytes()).hexdigest()
    assert digest == nfiq2.MODEL_SHA256
    card = (MODELS_DIR / "nfiq2_rf.md").read_text()
    assert f"File sha256: `{digest}`" in card
    for h in (nfiq2.NIST_MODEL_HASH, conv.EXPECTED_NPZ_MD5, conv.EXPECTED_NPZ_SHA256):
        assert h in card


def test_structure_and_feature_order(model, forest):
    assert len(forest["roots"]) == 100
    assert set(forest["modes"]) == {"LEAF", "BRANCH_LEQ"}
    assert set(np.unique(forest["value"][forest["leaf"]])) == {0.0, 1.0}
    assert len(nfiq2.FEATURE_NAMES) == 69 == len(set(nfiq2.FEATURE_NAMES))
    meta = {p.key: p.value for p in model.metadata_props}
    assert tuple(meta["feature_names"].split(",")) == nfiq2.FEATURE_NAMES
    assert meta["nist_model_hash"] == nfiq2.NIST_MODEL_HASH
    # MMB precedes Mu in NFIQ 2's rfFeatureOrder.
    assert nfiq2.FEATURE_NAMES.index("MMB") + 1 == nfiq2.FEATURE_NAMES.index("Mu")
    assert forest["var"].max() == 68


@pytest.mark.parametrize("ulp", [0, -1, 1])
def test_onnx_matches_numpy_on_thresholds(forest, ulp):
    rng = np.random.default_rng(10 + ulp)
    x = _boundary_rows(forest, rng, 400, ulp)
    want, on_thr = _numpy_votes(forest, x)
    if ulp == 0:
        assert on_thr > 1000  # the rows really exercise x == threshold
    got = nfiq2.score_batch(x)
    np.testing.assert_array_equal(got, want.astype(np.int64))


def test_onnx_matches_numpy_on_random_rows(forest):
    rng = np.random.default_rng(1)
    lo = np.array([forest["thr"][forest["var"] == j].min(initial=0) for j in range(69)])
    hi = np.array([forest["thr"][forest["var"] == j].max(initial=1) for j in range(69)])
    x = rng.uniform(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), size=(600, 69))
    want, _ = _numpy_votes(forest, x)
    got = nfiq2.score_batch(x)
    np.testing.assert_array_equal(got, want.astype(np.int64))
    assert got.min() >= 0 and got.max() <= 100
    assert got.max() - got.min() > 20  # random rows are not all scored alike


def test_float32_cast_matters(forest):
    # A double just above a float32 threshold rounds onto it and must go left, as in NFIQ 2.
    i = int(np.flatnonzero(~forest["leaf"])[0])
    t = float(forest["thr"][i])
    above = np.nextafter(t, np.inf)  # float64 ulp
    assert np.float32(above) == np.float32(t)
    rng = np.random.default_rng(2)
    x = _boundary_rows(forest, rng, 50)
    x64 = x.astype(np.float64)
    x64[:, forest["var"][i]] = above
    np.testing.assert_array_equal(nfiq2.score_batch(x64), _numpy_votes(forest, x64)[0])


def test_branch_lt_mutant_is_detected(model, forest, tmp_path):
    # The boundary test must be able to fail: a '<' ensemble disagrees on threshold rows.
    m = onnx.ModelProto()
    m.CopyFrom(model)
    node = m.graph.node[0]
    for att in node.attribute:
        if att.name == "nodes_modes":
            att.strings[:] = [b"LEAF" if s == b"LEAF" else b"BRANCH_LT" for s in att.strings]
    p = tmp_path / "lt.onnx"
    p.write_bytes(m.SerializeToString())
    sess = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"])
    x = _boundary_rows(forest, np.random.default_rng(3), 200)
    lt = sess.run(None, {"features": x})[0][:, 0]
    assert np.any(lt != nfiq2.score_batch(x))


def test_score_api_mapping_array_and_determinism():
    rng = np.random.default_rng(4)
    row = rng.random(69) * 10
    d = {k: float(v) for k, v in zip(nfiq2.FEATURE_NAMES, row)}
    d["UniformImage"] = 99.0  # extra keys are ignored
    s = nfiq2.score(d)
    assert isinstance(s, int) and 0 <= s <= 100
    assert s == nfiq2.score(row) == nfiq2.score(d)
    assert list(nfiq2.score_batch([d, row, d])) == [s, s, s]
    assert nfiq2.load_model() is nfiq2.load_model()
    assert len(nfiq2.score_batch(np.empty((0, 69)))) == 0


def test_score_rejects_bad_input():
    d = dict.fromkeys(nfiq2.FEATURE_NAMES, 1.0)
    del d["Mu"]
    with pytest.raises(ValueError, match="Mu"):
        nfiq2.score(d)
    with pytest.raises(ValueError, match="69"):
        nfiq2.score(np.zeros(68))
    row = np.ones(69)
    row[nfiq2.FEATURE_NAMES.index("OF_Bin10_Mean")] = np.nan
    with pytest.raises(ValueError, match="OF_Bin10_Mean"):
        nfiq2.score(row)
    zeroed = row.copy()
    zeroed[np.isnan(zeroed)] = 0.0
    assert nfiq2.score(row, nan="zero") == nfiq2.score(zeroed)


def _synthetic_forest(rng, ntrees=7, nfeat=69):
    """A random forest in the npz layout: pre-order, children relative to the tree root."""
    var, thr, left, right, value, sizes = [], [], [], [], [], []
    for _ in range(ntrees):
        tv, tt, tl, tr, tval = [], [], [], [], []

        def grow(depth):
            i = len(tv)
            tv.append(-1), tt.append(0.0), tl.append(-1), tr.append(-1), tval.append(float(rng.integers(0, 2)))
            if depth < 6 and rng.random() < 0.8:
                tv[i] = int(rng.integers(0, nfeat))
                tt[i] = float(np.float32(rng.normal()))
                tl[i] = grow(depth + 1)
                tr[i] = grow(depth + 1)
            return i

        grow(0)
        var += tv; thr += tt; left += tl; right += tr; value += tval; sizes.append(len(tv))
    sizes = np.array(sizes, dtype=np.int32)
    return {
        "var": np.array(var, np.int16), "thr": np.array(thr, np.float32),
        "left": np.array(left, np.int32), "right": np.array(right, np.int32),
        "value": np.array(value, np.float32), "tree_n": sizes,
        "tree_off": np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int32),
        "ntrees": np.int32(ntrees), "feature_names": np.array(nfiq2.FEATURE_NAMES),
    }


def test_converter_on_generated_forest(tmp_path):
    rng = np.random.default_rng(5)
    f = _synthetic_forest(rng)
    path = tmp_path / "synthetic.onnx"
    path.write_bytes(conv.build_model(f).SerializeToString())
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.vstack([conv.boundary_vectors(f, rng, 300), rng.normal(size=(300, 69)).astype(np.float32)])
    got = sess.run(None, {"features": x})[0][:, 0]
    np.testing.assert_array_equal(got, conv.traverse(f, x))
    assert conv.verify(path, f, n=200) == 0
    # Deterministic: same arrays, same bytes.
    assert conv.build_model(f).SerializeToString() == path.read_bytes()


def test_converter_refuses_unknown_npz(tmp_path):
    p = tmp_path / "other.npz"
    np.savez(p, ntrees=np.int32(1))
    with pytest.raises(ValueError, match="md5"):
        conv.load_forest(p)


def test_quality_feature_names_agree_if_present():
    try:
        from ifb1.quality import features as qf
    except ImportError:
        pytest.skip("ifb1.quality.features not present")
    assert tuple(qf.FEATURE_NAMES) == nfiq2.FEATURE_NAMES


def test_model_card_lists_every_feature():
    card = (MODELS_DIR / "nfiq2_rf.md").read_text()
    for name in nfiq2.FEATURE_NAMES:
        m = re.match(r"(.*_Bin10_)(\d)$", name)
        assert (name in card) or (m and f"{m.group(1)}0 .. {m.group(1)}9" in card), name
