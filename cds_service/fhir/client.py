"""Read-only FHIR access to the EHR's `fhirServer`: reads and paged searches within a time budget."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import anyio
import httpx

from cds_service import metrics

FHIR_JSON = "application/fhir+json"


class FhirUnavailable(Exception):
    """The server could not give the data: says why, without the token or any response content."""

    def __init__(self, message: str, kind: str = "other") -> None:
        super().__init__(message)
        self.kind = kind  # a fixed word for the metrics label (timeout, status, too-large, ...)


class FhirClient:
    """One request's view of one FHIR server; the bearer token goes on every call, to that host only."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        access_token: str | None,
        max_pages: int,
        max_bytes: int = 20 * 1024 * 1024,
        max_depth: int = 64,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/") + "/"
        self._token = access_token
        self._max_pages = max_pages
        self._max_bytes = max_bytes
        self._max_depth = max_depth

    async def query(self, relative: str) -> list[dict[str, Any]] | None:
        """Run one prefetch query: a read gives one resource or None (404), a search all pages' resources."""
        url = urljoin(self._base, relative)
        try:
            if "?" not in relative and relative.count("/") == 1:
                body = await self._get(url, allow_not_found=True, kind="read")
                return None if body is None else [body]
            return await self._search_pages(url)
        except FhirUnavailable as error:
            metrics.FHIR_FAILURES.labels(error.kind).inc()
            raise

    async def search_pages(self, url: str, first_page: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """All entries of a searchset, following `next` links on the same server up to the page limit."""
        try:
            return await self._search_pages(url, first_page)
        except FhirUnavailable as error:
            metrics.FHIR_FAILURES.labels(error.kind).inc()
            raise

    async def _search_pages(self, url: str, first_page: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        page = first_page if first_page is not None else await self._get(url, kind="search")
        resources: list[dict[str, Any]] = []
        pages = 0 if first_page is not None else 1
        while True:
            if page is None or page.get("resourceType") != "Bundle":
                raise FhirUnavailable("search did not return a Bundle", "not-a-bundle")
            resources += bundle_resources(page)
            next_url = next_link(page)
            if next_url is None:
                return resources
            if pages >= self._max_pages:
                raise FhirUnavailable(f"more than {self._max_pages} pages (VITDMG_FHIR_MAX_PAGES)", "too-many-pages")
            absolute = urljoin(self._base, next_url)
            if not under_base(absolute, self._base):
                raise FhirUnavailable("next link points outside the FHIR server's base URL", "foreign-next-link")
            page = await self._get(absolute, kind="page")
            pages += 1

    async def _get(self, url: str, allow_not_found: bool = False, kind: str = "search") -> dict[str, Any] | None:
        started = time.perf_counter()
        try:
            return await self._get_untimed(url, allow_not_found)
        finally:
            metrics.FHIR_SECONDS.labels(kind).observe(time.perf_counter() - started)

    async def _get_untimed(self, url: str, allow_not_found: bool) -> dict[str, Any] | None:
        if not under_base(url, self._base):  # the token never leaves the base the allow-list checked
            raise FhirUnavailable("a query points outside the FHIR server's base URL", "outside-base")
        headers = {"Accept": FHIR_JSON}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            async with self._http.stream("GET", url, headers=headers) as response:
                if response.status_code == 404 and allow_not_found:
                    return None
                if response.status_code != 200:  # a redirect too: never followed, the token stays on this host
                    raise FhirUnavailable(f"answered HTTP {response.status_code}", "status")
                content = bytearray()
                async for chunk in response.aiter_bytes():
                    content += chunk
                    if len(content) > self._max_bytes:
                        raise FhirUnavailable(
                            f"answered more than {self._max_bytes} bytes (VITDMG_FHIR_MAX_RESPONSE_BYTES)", "too-large"
                        )
        except httpx.TimeoutException as exc:
            raise FhirUnavailable("timed out", "timeout") from exc
        except httpx.HTTPError as exc:
            raise FhirUnavailable(f"connection failed ({type(exc).__name__})", "connection") from exc
        body = await anyio.to_thread.run_sync(_decode, content, self._max_depth)  # CPU work: off the event loop
        if not isinstance(body, dict):
            raise FhirUnavailable("answered with JSON that is not a resource", "not-a-resource")
        if body.get("resourceType") == "OperationOutcome":
            raise FhirUnavailable("answered with an OperationOutcome", "operation-outcome")
        return body


def bundle_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources in a Bundle's entries (an entry sent as a single object is read too)."""
    entries = bundle.get("entry") or []
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list):
        return []
    return [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)]


def next_link(bundle: dict[str, Any]) -> str | None:
    links = bundle.get("link") or []
    if isinstance(links, dict):
        links = [links]
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None


def switch_point(value: dict[str, Any]) -> dict[str, Any]:
    """Per JSON object: a point where the GIL can go to the event loop (see limits.switch_point)."""
    return value


def _decode(content: bytes | bytearray, max_depth: int) -> Any:
    try:
        body = json.loads(content, parse_constant=_not_json, object_hook=switch_point)
    except ValueError as exc:
        raise FhirUnavailable("answered with a body that is not JSON", "not-json") from exc
    except RecursionError:
        body = None
        too_deep = True
    else:
        too_deep = _depth(body) > max_depth
    if too_deep:
        raise FhirUnavailable(f"answered JSON nested deeper than {max_depth} (VITDMG_MAX_JSON_DEPTH)", "too-deep")
    return body


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not a JSON number")


def _depth(value: Any) -> int:
    """How deep JSON nests, walked without recursion (a hostile server may nest 200,000 deep)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack += [(v, depth + 1) for v in item.values() if isinstance(v, dict | list)]
        elif isinstance(item, list):
            stack += [(v, depth + 1) for v in item if isinstance(v, dict | list)]
    return deepest


def _segments(path: str) -> list[str] | None:
    """The path's segments, percent-decoded; None when one is `.`/`..` or hides a `/` or a backslash."""
    segments = []
    for raw in path.split("/"):
        segment = unquote(raw)
        if segment in (".", "..") or "/" in segment or "\\" in segment:
            return None
        if segment:
            segments.append(segment)
    return segments


def _location(url: str) -> tuple[str, str, int | None, list[str]] | None:
    """Scheme, host, port and path segments of a URL without user info, or None when it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a bad port, a broken IPv6 literal
        return None
    segments = _segments(parts.path)
    if segments is None or not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port, segments


def under_base(url: str, base: str) -> bool:
    """Same scheme, host and port, and a path inside the base path, compared segment by segment."""
    here, root = _location(url), _location(base)
    return here is not None and root is not None and here[:3] == root[:3] and here[3][: len(root[3])] == root[3]


def server_refusal(url: str, allowed: list[str], http_hosts: list[str]) -> str | None:
    """Why this fhirServer may not be called (None: it may): the allow-list and https rules."""
    location = _location(url)
    if location is None:
        return "fhirServer is not a usable URL (bad host or port, user info, dot segments or encoded slashes)"
    scheme, host = location[0], location[1]
    if scheme != "https" and not (scheme == "http" and host in {h.lower() for h in http_hosts}):
        return "fhirServer must use https (VITDMG_FHIR_HTTP_HOSTS allows http for named hosts)"
    if any(under_base(url, entry) for entry in allowed):
        return None
    return "fhirServer is not on the allow-list (VITDMG_FHIR_ALLOWED_SERVERS)"
