"""A bounded in-memory cache of validated FHIR resources, keyed by a hash of their raw JSON.

An EHR sends one patient's record again with every call of an ordering session (patient-view, order-select as
the order is edited, order-sign): the same resources, byte for byte. Validation with fhir.resources is the
largest cost of a call, so a resource seen moments ago is not validated again. The key is the resource type
and a digest of its JSON with sorted keys: any difference in content is a miss. Only resources that validated
as sent are kept (a repaired or rejected one is validated again, so its report is made again); nothing goes to
disk; least recently used entries go first. The validated models are shared between calls: the pipeline
reads them and never changes them (a test checks that every fixture leaves the cached models as they were).

A second, smaller cache keeps what a whole prefetch gave (issue 14): its identity reports and its parsed part
(`parsing.PrefetchPart`), keyed by a digest of the prefetch's resources and the patient, used again only while
every comparison with "now" it rests on comes out the same. Selection and identity are then not repeated either.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

import orjson

RECORD_ENTRIES = 64  # records (a prefetch's parsed part): one per patient of the sessions in progress
# A record keeps its Medication resources as sent and a comparison per result: a larger prefetch is not kept,
# so the records together never hold more than RECORD_ENTRIES x RECORD_MAX_RESOURCES resources' worth.
RECORD_MAX_RESOURCES = 1_000


class _Lru:
    """A bounded mapping, least recently used first out, safe across the worker threads."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: bytes) -> Any | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: bytes, value: Any) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class ValidatedCache(_Lru):
    """Validated models by `key` (the LRU's own get/put), and whole prefetches in `records`."""

    def __init__(self, max_entries: int, record_entries: int = RECORD_ENTRIES) -> None:
        super().__init__(max_entries)
        self.records = _Lru(record_entries)
        """Issue 14: what a whole prefetch gave (identity reports and its parsed part), keyed by `record_key`."""

    @staticmethod
    def record_key(resources: dict[str, list[dict[str, Any]]], patient_id: str) -> bytes | None:
        """A digest of the prefetch's resources as they came (keys, order and content) and the context's patient.

        None when orjson cannot write them (an integer beyond 64 bits) or they are more than RECORD_MAX_RESOURCES:
        such a record is not kept.
        """
        if sum(len(found) for found in resources.values()) > RECORD_MAX_RESOURCES:
            return None
        try:
            text = orjson.dumps(resources)
        except orjson.JSONEncodeError:
            return None
        digest = hashlib.blake2b(text, digest_size=20)
        digest.update(b"\x00" + patient_id.encode("utf-8", "surrogatepass"))
        return digest.digest()

    @staticmethod
    def key(model: type[Any], raw: dict[str, Any]) -> bytes:
        text = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20)
        digest.update(model.__name__.encode())
        return digest.digest()

    def __len__(self) -> int:
        return len(self._entries)
