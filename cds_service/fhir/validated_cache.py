"""A bounded in-memory cache of validated FHIR resources, keyed by a hash of their raw JSON.

An EHR sends one patient's record again with every call of an ordering session (patient-view, order-select as
the order is edited, order-sign): the same resources, byte for byte. Validation with fhir.resources is the
largest cost of a call, so a resource seen moments ago is not validated again. The key is the resource type
and a digest of its JSON with sorted keys: any difference in content is a miss. Only resources that validated
as sent are kept (a repaired or rejected one is validated again, so its report is made again); nothing goes to
disk; least recently used entries go first. The validated models are shared between calls: the pipeline
reads them and never changes them (a test checks that every fixture leaves the cached models as they were).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any


class ValidatedCache:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(model: type[Any], raw: dict[str, Any]) -> bytes:
        text = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20)
        digest.update(model.__name__.encode())
        return digest.digest()

    def get(self, key: bytes) -> Any | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: bytes, validated: Any) -> None:
        with self._lock:
            self._entries[key] = validated
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
