"""The detection benchmark's data (bench/detection/): every label file parses, with the
required fields and known kinds, and the scorer matches reports the way its README says.
No network, no app checkout."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "detection"


def _score_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("detection_score", BENCH / "score.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


score = _score_module()


def test_every_app_has_a_label_file_and_every_label_file_an_app() -> None:
    apps = score.load_apps()
    labels = score.load_labels()
    assert len(apps) >= 10
    assert {app.name for app in apps} == set(labels)
    assert len({app.repository for app in apps}) == len(apps)


def test_labels_have_the_required_fields_and_known_kinds() -> None:
    labels = score.load_labels()
    total = 0
    for app, data in labels.items():
        for label in data.blocking:
            total += 1
            assert label.kind in score.KINDS, (app, label.where)
            assert label.call, (app, label.where)
            assert label.chain, (app, label.where)
            assert label.sites, (app, label.where)
            assert label.chain[-1].path == label.path, (app, label.where)
            assert label.line <= label.chain[-1].line <= label.end_line, (app, label.where)
        spots = {(s.path, s.line) for s in data.not_blocking + data.unsure}
        lines = {(lb.path, n) for lb in data.blocking for n in range(lb.line, lb.end_line + 1)}
        assert not spots & lines, f"{app}: a line is both a label and a trap or unsure"
    assert total >= 100


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"kind": "network"}, "kind"),
        ({"chain": []}, "chain"),
        ({"sites": []}, "sites"),
        ({"line": 0}, "line"),
        ({"chain": [{"path": "a.py", "line": 3, "function": "f"}]}, "last step"),
    ],
)
def test_a_bad_label_is_refused(entry: dict[str, object], message: str) -> None:
    good: dict[str, object] = {
        "path": "a.py",
        "line": 5,
        "call": "time.sleep(1)",
        "kind": "sleep",
        "chain": [{"path": "a.py", "line": 5, "function": "f"}],
        "sites": [{"path": "a.py", "line": 5}],
    }
    with pytest.raises(score.LabelError, match=message):
        score.parse_labels({"app": "x", "blocking": [{**good, **entry}]}, "x.toml")


def _labels() -> object:
    return score.parse_labels(
        {
            "app": "x",
            "blocking": [
                {
                    "path": "crud.py",
                    "line": 10,
                    "end_line": 12,
                    "call": "db.query(X).first()",
                    "kind": "db",
                    "chain": [
                        {"path": "routes.py", "line": 4, "function": "route"},
                        {"path": "crud.py", "line": 10, "function": "get"},
                    ],
                    "sites": [{"path": "routes.py", "line": 4}],
                }
            ],
            "not_blocking": [{"path": "routes.py", "line": 9, "why": "AsyncSession result"}],
            "unsure": [{"path": "routes.py", "line": 20, "why": "Session.close()"}],
            "ignore": [{"path": "tests", "why": "tests"}],
        },
        "x.toml",
    )


@pytest.mark.parametrize(
    ("report", "found", "false_positives", "traps"),
    [
        (("crud.py", 11, None), 1, 0, 0),  # inside the call's lines
        (("routes.py", 4, None), 1, 0, 0),  # at the async call site
        (("other.py", 1, ("crud.py", 12)), 1, 0, 0),  # its chain ends at the call
        (("routes.py", 9, None), 0, 1, 1),  # a trap
        (("routes.py", 20, None), 0, 0, 0),  # unsure: neither
        (("tests/test_x.py", 3, None), 0, 0, 0),  # ignored path
        (("crud.py", 13, None), 0, 1, 0),  # just past the call
    ],
)
def test_scoring(
    report: tuple[str, int, tuple[str, int] | None], found: int, false_positives: int, traps: int
) -> None:
    path, line, chain_end = report
    result = score.score(_labels(), [score.Report(path, line, "X1", "blocks", chain_end)])
    assert (len(result.found), len(result.false_positives), len(result.traps)) == (
        found,
        false_positives,
        traps,
    )


def test_vibefix_records_with_a_blocking_key_replace_the_codes(tmp_path: Path) -> None:
    chain = [{"path": "r.py", "line": 2, "function": "f"}, {"path": "s.py", "line": 7}]
    document = {
        "files": [{"path": "r.py", "edits": [{"code": "VF102", "line": 2, "import": False}]}],
        "findings": [
            {
                "path": "r.py",
                "line": 2,
                "code": "VF102",
                "message": "x",
                "blocking": {"chain": chain},
            }
        ],
    }
    reports = score.vibefix_reports(document, tmp_path, marks=False)
    assert [(r.path, r.line, r.chain_end) for r in reports] == [("r.py", 2, ("s.py", 7))]
    document["findings"] = [{"path": "r.py", "line": 3, "code": "VF300", "message": "blocks"}]
    reports = score.vibefix_reports(document, tmp_path, marks=False)
    assert [(r.path, r.line, r.code) for r in reports] == [("r.py", 2, "VF102")]
    # A vibefix that marks its records: one with no mark is about something else.
    assert score.vibefix_reports(document, tmp_path, marks=True) == []


def test_a_report_at_an_async_call_site_is_not_at_the_calls_line() -> None:
    at_site = score.score(_labels(), [score.Report("routes.py", 4, "X1", "blocks")])
    at_call = score.score(_labels(), [score.Report("crud.py", 10, "X1", "blocks")])
    assert (len(at_site.found), len(at_site.at_line)) == (1, 0)
    assert (len(at_call.found), len(at_call.at_line)) == (1, 1)
