"""Issue 13 finding 4: feedback cannot silence an alert for ever."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from .conftest import PV, Hostile, base_request

FB = PV + "/feedback"


def _issued_card(hostile: Hostile) -> str:
    response = hostile.call(PV, base_request())
    return str(response.json()["cards"][0]["uuid"])


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59Z", "2999-01-01T00:00:00+01:00"])
def test_outcome_timestamp_in_the_future_is_a_400(hostile: Hostile, when: str) -> None:
    item = {"card": _issued_card(hostile), "outcome": "overridden", "outcomeTimestamp": when}
    response = hostile.call(FB, {"feedback": [item]})
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["feedback[0].outcomeTimestamp"]


def test_same_instant_in_two_zones_is_one_outcome(hostile: Hostile) -> None:
    card = _issued_card(hostile)
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    utc = {"card": card, "outcome": "overridden", "outcomeTimestamp": when.isoformat().replace("+00:00", "Z")}
    cet = {**utc, "outcomeTimestamp": when.astimezone(datetime.now().astimezone().tzinfo).isoformat()}
    plus_one = {**utc, "outcomeTimestamp": (when + timedelta(hours=1)).isoformat().replace("+00:00", "+01:00")}
    response = hostile.call(FB, {"feedback": [utc, cet, plus_one]})
    assert response.json() == {"stored": 1, "duplicates": 2}
