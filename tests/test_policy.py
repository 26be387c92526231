import pytest

from ifb1.pipeline.policy import PrintOutcome, VerdictPolicy, decide, load_policy


def prints(scores, annotations=None):
    annotations = annotations or {}
    out = []
    for pos in range(1, 11):
        q = scores.get(pos, 60)
        if pos in annotations or q == "absent":
            out.append(PrintOutcome(pos, present=False, annotation=annotations.get(pos)))
        else:
            out.append(PrintOutcome(pos, present=True, quality=q))
    return out


def test_good_copy_is_suitable():
    v = decide(prints({}), is_copy=True)
    assert v.verdict == "suitable" and v.defective_positions == ()


def test_poor_copy_is_unsuitable_with_reasons():
    v = decide(prints({1: 10, 2: 12, 7: 5}), is_copy=True)
    assert v.verdict == "unsuitable"
    assert v.defective_positions == (1, 2, 7)
    assert "3 of 10 rolled prints" in v.reasons[0]


def test_poor_original_is_never_unsuitable():
    v = decide(prints({1: 10, 2: 12, 7: 5}), is_copy=False)
    assert v.verdict == "review"
    assert any("never deleted" in r for r in v.reasons)


def test_annotated_amputation_is_not_a_defect_but_blank_box_is():
    assert decide(prints({}, {3: "XX", 4: "UP", 5: "AMP"}), is_copy=True).verdict == "suitable"
    v = decide(prints({3: "absent", 4: "absent", 5: "absent"}), is_copy=True)
    assert v.verdict == "unsuitable" and "no reason marked" in v.reasons[1]


def test_borderline_copy_goes_to_review():
    v = decide(prints({1: 28, 2: 29, 7: 27}), is_copy=True, policy=VerdictPolicy(min_quality=30, borderline_margin=3))
    assert v.verdict == "review"


def test_missing_form_id_and_copy_looking_original_go_to_review():
    assert decide(prints({}), is_copy=True, form_id=None).verdict == "review"
    v = decide(prints({}), is_copy=False, looks_like_copy=True)
    assert v.verdict == "review" and "looks like a scanned copy" in v.reasons[0]


def test_policy_file_defaults_and_overrides(tmp_path):
    default = load_policy()
    assert default.verdict == VerdictPolicy()
    assert default.export.comment == "Op Innerste"
    f = tmp_path / "p.toml"
    f.write_text("[verdict]\nmin_quality = 40\n[export]\noriginating_agency = 'GBNSEC01'\ntype2_comment = 57\n")
    p = load_policy(f)
    assert p.verdict.min_quality == 40 and p.export.originating_agency == "GBNSEC01"
    assert p.export.type2_fields["comment"] == 57
    assert decide(prints({1: 35, 2: 35, 3: 35}), is_copy=True, policy=p.verdict).verdict == "unsuitable"


@pytest.mark.parametrize(
    "text, match",
    [
        ("[verdict]\nmin_qualty = 40\n", "unknown key 'min_qualty'"),
        ("[verdict]\nmin_quality = 'high'\n", "whole number"),
        ("[verdict]\nmin_quality = 400\n", "0-100"),
        ("[exports]\n", "unknown section"),
        ("[export]\noriginating_agency = '../x'\n", "originating_agency"),
        ("not toml = = 1", "cannot read"),
    ],
)
def test_bad_policy_names_file_and_key(tmp_path, text, match):
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        load_policy(f)
    assert "bad.toml" in str(err.value)
