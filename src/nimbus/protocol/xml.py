"""Model-driven XML: shapes compiled once into emitters (output) and readers (input).

Used by the ``query`` and ``ec2`` serializers (responses) and by ``rest-xml`` (request
payloads and responses).  Naming rules mirror botocore's XML parser exactly, so anything
botocore can read, we write: member tags come from ``locationName``; a flattened list
repeats its member's ``locationName`` (or the member's own tag) without a wrapper; a
non-flattened list wraps items in ``<member>`` unless the member names another tag;
maps use ``<entry><key/><value/></entry>`` unless flattened.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any, Callable

from botocore.model import Shape

from .values import WireValueError, scalar_from_text, scalar_to_text

# An emitter appends ``value`` as XML to ``out`` between an opening tag (complete, e.g.
# '<Name xmlns="...">') and a closing tag, both computed once when the shape is compiled.
Emitter = Callable[[list[str], Any, str, str], None]

_MEMO_LIMIT = 65536  # formatted timestamps remembered per format (cleared when full)
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;"})
_SPECIAL = re.compile('[&<>"\r]')


def escape(text: str) -> str:
    # Most values need no escaping; searching first is several times cheaper than translating.
    return text.translate(_ESCAPES) if _SPECIAL.search(text) else text


def member_tag(member_shape: Shape, member_name: str) -> str:
    """The tag of a structure member, as botocore's XML parser looks for it."""
    if member_shape.type_name == "list" and member_shape.serialization.get("flattened"):
        flat_name = member_shape.member.serialization.get("name")
        if flat_name:
            return flat_name
    return member_shape.serialization.get("name", member_name)


def namespace_attr(shape: Shape) -> str:
    ns = shape.serialization.get("xmlNamespace")
    if not ns:
        return ""
    if isinstance(ns, dict):
        prefix = ns.get("prefix")
        return f' xmlns{":" + prefix if prefix else ""}="{escape(ns["uri"])}"'
    return f' xmlns="{escape(ns)}"'


_STRING, _INTEGER, _BOOLEAN = 1, 2, 3
_INLINE_KINDS = {"string": _STRING, "integer": _INTEGER, "long": _INTEGER, "short": _INTEGER, "byte": _INTEGER,
                 "boolean": _BOOLEAN}


class XmlCompiler:
    """Compiles shapes into XML emitters, caching structures by name (recursion-safe)."""

    def __init__(self, service_name: str, timestamp_format: str = "iso8601") -> None:
        self.service_name = service_name
        self.timestamp_format = timestamp_format
        self._structures: dict[str, Emitter] = {}
        self._timestamps: dict[str, dict[Any, str]] = {}  # timestampFormat → value → text

    # -- output ---------------------------------------------------------------------

    def write(self, out: list[str], shape: Shape, value: Any, tag: str) -> None:
        """Append ``value`` as the element ``tag`` of ``shape``."""
        self.emitter(shape)(out, value, f"<{tag}{namespace_attr(shape)}>", f"</{tag}>")

    def emitter(self, shape: Shape) -> Emitter:
        kind = shape.type_name
        if kind == "structure":
            return self._structure(shape)
        if kind == "list":
            return self._list(shape)
        if kind == "map":
            return self._map(shape)
        return self._scalar(shape)

    def _scalar(self, shape: Shape) -> Emitter:
        kind = shape.type_name
        if kind == "string":

            def emit_string(out: list[str], value: Any, open_tag: str, close_tag: str) -> None:
                out.append(open_tag + escape(value if type(value) is str else str(value)) + close_tag)

            return emit_string
        if kind in ("integer", "long", "short", "byte"):

            def emit_integer(out: list[str], value: Any, open_tag: str, close_tag: str) -> None:
                out.append(f"{open_tag}{int(value)}{close_tag}")

            return emit_integer
        if kind == "boolean":

            def emit_boolean(out: list[str], value: Any, open_tag: str, close_tag: str) -> None:
                out.append(open_tag + ("true" if value else "false") + close_tag)

            return emit_boolean
        ts = self.timestamp_format
        if kind == "timestamp":
            # Records repeat the same few instants (a launch batch shares its LaunchTime), and
            # formatting one costs a datetime and a strftime: remember the text of each.
            memo = self._timestamp_memo(shape.serialization.get("timestampFormat", ts))

            def emit_timestamp(out: list[str], value: Any, open_tag: str, close_tag: str) -> None:
                try:
                    text = memo[value]
                except (KeyError, TypeError):
                    text = escape(scalar_to_text(shape, value, ts))
                    try:
                        if len(memo) >= _MEMO_LIMIT:
                            memo.clear()
                        memo[value] = text
                    except TypeError:  # an unhashable value: nothing to remember
                        pass
                out.append(open_tag + text + close_tag)

            return emit_timestamp

        def emit_scalar(out: list[str], value: Any, open_tag: str, close_tag: str) -> None:
            out.append(open_tag + escape(scalar_to_text(shape, value, ts)) + close_tag)

        return emit_scalar

    def _timestamp_memo(self, fmt: str) -> dict[Any, str]:
        memo = self._timestamps.get(fmt)
        if memo is None:
            memo = self._timestamps[fmt] = {}
        return memo

    def _member_plan(self, name: str, member: Shape) -> tuple[str, str, Emitter]:
        tag = member_tag(member, name)
        return f"<{tag}{namespace_attr(member)}>", f"</{tag}>", self.emitter(member)

    def _structure(self, shape: Shape) -> Emitter:
        cached = self._structures.get(shape.name)
        if cached is not None:
            return cached
        plan: dict[str, tuple[str, str, Emitter]] = {}
        # Members whose values are written inline, without calling an emitter (the common
        # case of a record: plain strings, integers and booleans): name → (open, close, kind).
        inline: dict[str, tuple[str, str, int]] = {}
        attributes: list[tuple[str, str, Shape]] = []

        def emit_structure(out: list[str], value: Any, open_tag: str, close_tag: str) -> None:
            if attributes:
                attrs = "".join(
                    f' {attr_name}="{escape(scalar_to_text(attr_shape, value[name]))}"'
                    for name, attr_name, attr_shape in attributes
                    if value.get(name) is not None
                )
                open_tag = open_tag[:-1] + attrs + ">"
            append = out.append
            append(open_tag)
            # Walk the value, not the model: records carry a handful of a shape's members.
            for name, v in value.items():
                if v is None:
                    continue
                simple = inline.get(name)
                if simple is not None:
                    kind = simple[2]
                    if kind == _STRING and type(v) is str:
                        append(simple[0] + (v.translate(_ESCAPES) if _SPECIAL.search(v) else v) + simple[1])
                        continue
                    if kind == _BOOLEAN and type(v) is bool:
                        append(simple[0] + ("true" if v else "false") + simple[1])
                        continue
                    if kind == _INTEGER and type(v) is int:
                        append(f"{simple[0]}{v}{simple[1]}")
                        continue
                entry = plan.get(name)
                if entry is not None:
                    entry[2](out, v, entry[0], entry[1])
            append(close_tag)

        # Register before compiling members: recursive shapes refer to themselves.
        self._structures[shape.name] = emit_structure
        for name, member in shape.members.items():
            if member.serialization.get("location"):
                continue  # headers, status code, uri: not in the body
            if member.serialization.get("xmlAttribute"):
                attributes.append((name, member.serialization["name"], member))
                continue
            plan[name] = self._member_plan(name, member)
            kind = _INLINE_KINDS.get(member.type_name)
            if kind is not None:
                inline[name] = (plan[name][0], plan[name][1], kind)
        return emit_structure

    def _list(self, shape: Shape) -> Emitter:
        item = self.emitter(shape.member)
        if shape.serialization.get("flattened"):

            def emit_flat(out: list[str], value: Any, open_tag: str, close_tag: str) -> None:
                for element in value:
                    item(out, element, open_tag, close_tag)

            return emit_flat
        item_name = shape.member.serialization.get("name", "member")
        item_open, item_close = f"<{item_name}{namespace_attr(shape.member)}>", f"</{item_name}>"

        def emit_list(out: list[str], value: Any, open_tag: str, close_tag: str) -> None:
            out.append(open_tag)
            for element in value:
                item(out, element, item_open, item_close)
            out.append(close_tag)

        return emit_list

    def _map(self, shape: Shape) -> Emitter:
        key_tag = shape.key.serialization.get("name") or "key"
        value_tag = shape.value.serialization.get("name") or "value"
        emit_key = self.emitter(shape.key)
        emit_value = self.emitter(shape.value)
        key_open, key_close = f"<{key_tag}>", f"</{key_tag}>"
        value_open, value_close = f"<{value_tag}>", f"</{value_tag}>"
        flattened = bool(shape.serialization.get("flattened"))

        def emit_map(out: list[str], value: Any, open_tag: str, close_tag: str) -> None:
            entry_open, entry_close = (open_tag, close_tag) if flattened else ("<entry>", "</entry>")
            if not flattened:
                out.append(open_tag)
            for k, v in value.items():
                out.append(entry_open)
                emit_key(out, k, key_open, key_close)
                emit_value(out, v, value_open, value_close)
                out.append(entry_close)
            if not flattened:
                out.append(close_tag)

        return emit_map

    # -- input ----------------------------------------------------------------------

    def read(self, shape: Shape, node: ET.Element) -> Any:
        """The value of ``node`` for ``shape`` (request payloads of rest-xml)."""
        kind = shape.type_name
        if kind == "structure":
            return self._read_structure(shape, node)
        if kind == "list":
            return self._read_list(shape, [node])
        if kind == "map":
            return self._read_map(shape, [node])
        return scalar_from_text(shape, node.text or "", self.timestamp_format)

    def _read_structure(self, shape: Shape, node: ET.Element) -> dict[str, Any]:
        children: dict[str, list[ET.Element]] = {}
        for child in node:
            children.setdefault(_local(child.tag), []).append(child)
        result: dict[str, Any] = {}
        for name, member in shape.members.items():
            if member.serialization.get("location"):
                continue
            if member.serialization.get("xmlAttribute"):
                attr = member.serialization["name"]
                for key, val in node.attrib.items():
                    if key == attr or _local(key) == attr.split(":")[-1]:
                        result[name] = scalar_from_text(member, val, self.timestamp_format)
                continue
            found = children.get(member_tag(member, name))
            if not found:
                continue
            if member.type_name == "list" and member.serialization.get("flattened"):
                result[name] = [self.read(member.member, n) for n in found]
            elif member.type_name == "map" and member.serialization.get("flattened"):
                result[name] = self._read_map(member, found)
            elif member.type_name == "list":
                result[name] = self._read_list(member, found[:1])
            else:
                result[name] = self.read(member, found[0])
        return result

    def _read_list(self, shape: Shape, nodes: list[ET.Element]) -> list[Any]:
        item_tag = shape.member.serialization.get("name", "member")
        return [self.read(shape.member, item) for n in nodes for item in n if _local(item.tag) == item_tag]

    def _read_map(self, shape: Shape, nodes: list[ET.Element]) -> dict[Any, Any]:
        key_tag = shape.key.serialization.get("name") or "key"
        value_tag = shape.value.serialization.get("name") or "value"
        flattened = shape.serialization.get("flattened")
        entries = nodes if flattened else [e for n in nodes for e in n]
        result: dict[Any, Any] = {}
        for entry in entries:
            key = value = None
            for part in entry:
                tag = _local(part.tag)
                if tag == key_tag:
                    key = self.read(shape.key, part)
                elif tag == value_tag:
                    value = self.read(shape.value, part)
            if key is not None:
                result[key] = value
        return result


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


def parse_document(body: bytes) -> ET.Element:
    """Parse an XML request body; entity declarations are refused (no XXE, no bombs)."""
    if b"<!ENTITY" in body or b"<!DOCTYPE" in body:
        raise WireValueError("XML documents with DTDs or entities are not accepted")
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise WireValueError(f"The XML you provided was not well-formed: {exc}") from exc


XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
