"""The zoo (tests/zoo/): every hand-written implementation gets exactly its expected diagnosis,
and every correct one comes out ok with no other finding."""
import importlib.util
from pathlib import Path

import pytest

from comparisons.doctor import diagnose

ZOO = Path(__file__).parent / "zoo"
CASES = sorted(path for path in ZOO.glob("*.py") if path.name != "__init__.py")


def load_case(path: Path):
    spec = importlib.util.spec_from_file_location(f"doctor_zoo_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def diagnose_case(case):
    params, X, y = case.data()
    return diagnose(case.SPEC, params, X, y, mapping=case.MAPPING,
                    samples_as_columns=getattr(case, "SAMPLES_AS_COLUMNS", False), **case.doctor_kwargs())


@pytest.mark.parametrize("path", CASES, ids=lambda path: path.stem)
def test_zoo_diagnosis(path):
    case = load_case(path)
    result = diagnose_case(case)
    report = str(result)
    assert result.error is None, report
    assert result.kinds == case.EXPECTED, report
    assert result.culprit == case.CULPRIT, report
    assert result.ok is (case.CULPRIT is None), report
    for phrase in case.EVIDENCE:
        assert phrase in report, f"{phrase!r} is not in the report:\n{report}"


def test_zoo_covers_every_kind():
    kinds = {kind for path in CASES for kind in load_case(path).EXPECTED.values()}
    assert kinds == {"ok", "sign_flipped", "scaled", "transposed", "zero", "stateful", "shape_mismatch", "wrong"}
