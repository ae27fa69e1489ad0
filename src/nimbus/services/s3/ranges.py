"""HTTP ``Range`` requests for object bodies (RFC 9110 byte ranges, as S3 serves them)."""

from __future__ import annotations

from ...errors import ServiceError


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive byte positions, or None to send the whole object.

    S3 serves one range; a syntactically invalid header is ignored (whole object), an
    unsatisfiable one answers 416 InvalidRange.
    """
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first_text == "":
            suffix = int(last_text)
            if suffix <= 0:
                raise _unsatisfiable(size)
            if size == 0:
                raise _unsatisfiable(size)
            return max(0, size - suffix), size - 1
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:
        return None
    if first >= size:
        raise _unsatisfiable(size)
    if first < 0 or last < first:
        return None
    return first, min(last, size - 1)


def _unsatisfiable(size: int) -> ServiceError:
    return ServiceError(
        "InvalidRange",
        "The requested range is not satisfiable",
        416,
        fields={"ActualObjectSize": size},
        headers={"Content-Range": f"bytes */{size}"},
    )
