"""Issue 10: course length from the record (cds_service/reasoning/_course.py), on med facts, so rules about prolonged use
(PPI/diuretic magnesium loss, glucocorticoids lowering vitamin D) stay quiet for short courses.

Data: fhir_fixtures/cases/courses.json (statement periods, boundsDuration, dispenseRequest supply x repeats).
"""

from __future__ import annotations

import pytest

from cds_service.knowledge.loader import Knowledge

from .test_facts import facts_for, one


@pytest.mark.parametrize(
    ("case", "med_class", "course"),
    [
        ("ppi-two-weeks", "ppi", {"course": "bounded", "course_days": 14.0}),
        ("ppi-open", "ppi", {"course": "open"}),
        ("ppi-one-year", "ppi", {"course": "bounded", "course_days": 364.0}),
        ("prednisolone-5-days", "systemic-corticosteroid", {"course": "bounded", "course_days": 5.0}),
        ("prednisolone-12-weeks", "systemic-corticosteroid", {"course": "bounded", "course_days": 84.0}),
        ("furosemide-supply", "loop-diuretic", {"course": "bounded", "course_days": 180.0}),  # 30 d x (1 + 5)
        ("furosemide-open", "loop-diuretic", {"course": "open"}),
    ],
)
def test_course_length_on_med_facts(knowledge: Knowledge, case: str, med_class: str, course: dict[str, object]) -> None:
    facts = facts_for(knowledge, [one("courses", case)])
    (fact,) = [f for f in facts.facts if f["kind"] == "med"]
    assert fact["class"] == med_class
    assert {k: fact[k] for k in ("course", "course_days") if k in fact} == course
