"""FHIR parsing: imperfect FHIR is read where unambiguous and reported; one bad resource never sinks a request."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cds_service.fhir.parsing import parse_record
from cds_service.fhir.prefetch import Prefetched
from cds_service.knowledge.loader import Knowledge
from tests.fhir_server import load_record


def _prefetched(resources: list[dict[str, Any]]) -> Prefetched:
    return Prefetched(resources={"all": resources})


def test_relevant_resources_are_validated_and_the_rest_discarded(knowledge: Knowledge) -> None:
    record = parse_record(_prefetched(load_record("nl-ppi-low-mg")), {}, knowledge)
    # the newest usable result per analyte: no HbA1c (not asked for), no older 25(OH)D (never read)
    assert {o.id for o in record.observations} == {"nl-1-mg", "nl-1-vitd", "nl-1-egfr"}
    assert {s.id for s in record.statements} == {
        "nl-1-ms-omeprazol",
        "nl-1-ms-magnesium",
    }  # not the completed one
    assert record.patient is not None and record.patient.id == "nl-1"
    assert set(record.medications) == {"Medication/nl-1-med-omeprazol"}
    assert record.reports == []


def test_repeating_element_sent_as_object_is_repaired_and_reported(knowledge: Knowledge) -> None:
    """A MedicationStatement with `category` as one object (as clients send) is read as a one-item list."""
    resources = load_record("nl-ppi-low-mg")
    record = parse_record(_prefetched(resources), {}, knowledge)
    statement = next(s for s in record.statements if s.id == "nl-1-ms-omeprazol")
    assert statement.category is not None
    raw = next(r for r in resources if r.get("id") == "nl-1-ms-omeprazol")
    assert isinstance(raw["category"], dict)  # the fixture really sends it as an object...
    # ...and R4 has it as an object too (MedicationStatement.category 0..1): nothing to repair there.
    obs = dict(next(r for r in resources if r.get("id") == "nl-1-mg"))
    obs["category"] = obs["category"][0]
    record = parse_record(_prefetched([obs]), {}, knowledge)
    assert [o.id for o in record.observations] == ["nl-1-mg"]
    assert len(record.reports) == 1 and "read as a list: category" in record.reports[0].reason


def test_invalid_resource_is_left_out_and_reported_without_values(knowledge: Knowledge) -> None:
    resources = load_record("nl-ppi-low-mg")
    bad = dict(next(r for r in resources if r.get("id") == "nl-1-mg"))
    bad["effectiveDateTime"] = "yesterday-ish"
    record = parse_record(_prefetched([bad, *[r for r in resources if r.get("id") != "nl-1-mg"]]), {}, knowledge)
    assert "nl-1-mg" not in {o.id for o in record.observations}
    assert "nl-1-vitd" in {o.id for o in record.observations}
    (report,) = record.reports
    assert report.where.startswith("Observation/nl-1-mg") and "effectiveDateTime" in report.reason
    assert "yesterday" not in report.reason


def test_statuses_that_do_not_count_are_reported(knowledge: Knowledge) -> None:
    resources = load_record("nl-ppi-low-mg")
    for status in ("entered-in-error", "cancelled", "preliminary"):
        obs = dict(next(r for r in resources if r.get("id") == "nl-1-mg"), status=status)
        record = parse_record(_prefetched([obs]), {}, knowledge)
        assert record.observations == []
        assert status in record.reports[0].reason


def test_unknown_extension_is_accepted(knowledge: Knowledge) -> None:
    obs = dict(next(r for r in load_record("nl-ppi-low-mg") if r.get("id") == "nl-1-mg"))
    obs["extension"] = [
        {"url": "http://ehr.example.org/fhir/StructureDefinition/lab-comment", "valueString": "hemolysed?"}
    ]
    record = parse_record(_prefetched([obs]), {}, knowledge)
    assert [o.id for o in record.observations] == ["nl-1-mg"] and record.reports == []


def test_draft_orders_of_other_fhir_versions_are_reported(knowledge: Knowledge) -> None:
    """A4: R4 is read; a DSTU2 MedicationOrder is reported, not parsed."""
    bundle = {
        "resourceType": "Bundle",
        "entry": [{"resource": {"resourceType": "MedicationOrder", "id": "m1"}}, {"foo": 1}],
    }
    record = parse_record(_prefetched([]), {"draftOrders": bundle}, knowledge)
    assert record.draft_medication_requests == []
    assert [r.reason for r in record.reports] == [
        "not a FHIR R4 resource type; this service reads R4",
        "entry without a resource; left out",
    ]


def test_an_unusable_newest_result_lets_the_next_one_through(knowledge: Knowledge) -> None:
    """Newest first until one is usable: a newest 25(OH)D in an unknown unit does not hide the older one."""
    resources = load_record("nl-ppi-low-mg")
    newest = next(r for r in resources if r.get("id") == "nl-1-vitd")
    newest["valueQuantity"] = {"value": 4.2, "unit": "ug/dL", "system": "http://unitsofmeasure.org", "code": "ug/dL"}
    record = parse_record(_prefetched(resources), {}, knowledge)
    assert {o.id for o in record.observations if str(o.id).startswith("nl-1-vitd")} == {"nl-1-vitd", "nl-1-vitd-old"}


def test_medication_outside_the_rules_classes_is_not_validated(knowledge: Knowledge) -> None:
    """Selection from the raw JSON: an enalapril statement (ATC C09AA02) is not one of ours; it is skipped
    before validation, even though it is invalid, and only counted (issue 12: never named, no PHI)."""
    statement = {
        "resourceType": "MedicationStatement",
        "id": "enalapril",
        "status": "active",
        "subject": "not-a-reference",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.whocc.no/atc", "code": "C09AA02"}],
            "text": "enalapril 10 mg",  # a name of ours would count beside an unlisted ATC (issue 18)
        },
    }
    record = parse_record(_prefetched([statement]), {}, knowledge)
    assert record.statements == []
    assert [(r.where, r.reason) for r in record.reports] == [
        ("medication", "1 current medication(s) matched none of the rules' classes by code, name or brand")
    ]


def test_each_result_keeps_the_analyte_selection_chose_it_for(knowledge: Knowledge) -> None:
    """Issue 17: parsing decides a result's analyte once and the facts step reads that decision, not its own.

    The results of nl-ppi-low-mg, each beside the analyte it was selected for, in the same order.
    """
    record = parse_record(_prefetched(load_record("nl-ppi-low-mg")), {}, knowledge)
    assert len(record.lab_analytes) == len(record.observations)
    assert dict(zip((o.id for o in record.observations), record.lab_analytes, strict=True)) == {
        "nl-1-mg": "mg",
        "nl-1-vitd": "vitd25",
        "nl-1-egfr": "egfr",
    }


def test_an_observation_is_dated_in_one_order_whether_raw_or_validated() -> None:
    """Issue 17: effectiveDateTime, effectiveInstant, effectivePeriod.start, issued: one function reads both forms."""
    from fhir.resources.R4B.observation import Observation

    from cds_service.fhir._dates import observation_time, to_datetime

    base: dict[str, Any] = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    shapes: list[dict[str, Any]] = [
        {"effectiveDateTime": "2026-10-01T08:00:00+02:00", "issued": "2026-10-03T08:00:00+00:00"},
        {"effectivePeriod": {"start": "2026-10-01T06:00:00+00:00"}, "issued": "2026-10-03T08:00:00+00:00"},
        {"effectiveInstant": "2026-10-01T06:00:00+00:00", "issued": "2026-10-03T08:00:00+00:00"},
        {"issued": "2026-10-01T06:00:00+00:00"},
    ]
    for shape in shapes:
        raw = {**base, **shape}
        read = to_datetime(observation_time(raw))
        assert read == datetime(2026, 10, 1, 6, tzinfo=UTC)
        assert to_datetime(observation_time(Observation.model_validate(raw))) == read
