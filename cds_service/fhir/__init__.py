"""FHIR in: prefetch (from the request or the EHR's server), patient identity, parsing and validation."""
