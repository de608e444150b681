"""The partner logo that ServiceTitan's "General Information" step takes.

ServiceTitan accepts .jpeg, .png, .jpg and .svg. A file is judged by its content, not only
its name: the extension must agree with what the bytes are, and an SVG must be a plain
drawing, since an SVG can carry scripts and links that run wherever it is opened.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

LOGO_MAX_BYTES = 1024 * 1024
EXTENSIONS = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}

_SIGNATURES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
_SVG_NAMESPACE = "http://www.w3.org/2000/svg"
_XLINK_NAMESPACE = "http://www.w3.org/1999/xlink"
_XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"

# What a logo may be made of: shapes, text, paint servers, clipping, masks and a few
# filters. Anything else is refused by name — scripts, foreignObject, links (<a>), and
# animation (<animate>, <set>), which can turn an href into javascript: after the check.
_ELEMENTS = {
    "svg", "g", "defs", "symbol", "use", "title", "desc", "style", "image", "marker",
    "path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "text", "tspan",
    "linearGradient", "radialGradient", "stop", "pattern", "clipPath", "mask",
    "filter", "feGaussianBlur", "feOffset", "feBlend", "feColorMatrix", "feFlood", "feComposite",
    "feMerge", "feMergeNode",
}  # fmt: skip
_ATTRIBUTES = {
    "id", "class", "style", "version", "baseProfile", "viewBox", "preserveAspectRatio", "width", "height",
    "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry", "fx", "fy", "d", "points", "transform",
    "href", "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-opacity", "stroke-linecap",
    "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray", "stroke-dashoffset", "opacity", "color",
    "display", "visibility", "overflow", "clip-path", "clip-rule", "mask", "filter", "vector-effect",
    "shape-rendering", "paint-order", "mix-blend-mode", "offset", "stop-color", "stop-opacity",
    "gradientUnits", "gradientTransform", "spreadMethod", "clipPathUnits", "maskUnits", "maskContentUnits",
    "patternUnits", "patternContentUnits", "patternTransform", "markerWidth", "markerHeight", "refX", "refY",
    "orient", "markerUnits", "marker-start", "marker-mid", "marker-end", "font-family", "font-size",
    "font-weight", "font-style", "text-anchor", "dominant-baseline", "letter-spacing", "dx", "dy",
    "textLength", "lengthAdjust", "filterUnits", "primitiveUnits", "stdDeviation", "in", "in2", "result",
    "mode", "type", "values", "operator", "k1", "k2", "k3", "k4", "flood-color", "flood-opacity",
    "data-name", "xml:space", "xml:lang", "xlink:href",
}  # fmt: skip
# Only a fragment of this file, or an embedded PNG or JPEG: nothing that loads from elsewhere.
_LOCAL_HREF = re.compile(r"#|data:image/(png|jpeg);", re.IGNORECASE)
# In CSS (a <style> element or a style attribute) and in presentation attributes: url() may
# only name a fragment of this file, and nothing may be imported.
_EXTERNAL_CSS = re.compile(r"@import|url\(\s*(?![\s'\"]*#)", re.IGNORECASE)


class LogoError(Exception):
    """A file that is not an acceptable logo; the message says why."""


def check_logo(filename: str, data: bytes) -> str:
    """The logo's content type, or ``LogoError``."""
    if not data:
        raise LogoError("choose a .jpeg, .png, .jpg or .svg file")
    extension = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    content_type = EXTENSIONS.get(extension)
    if content_type is None:
        raise LogoError("ServiceTitan accepts only .jpeg, .png, .jpg and .svg files")
    if len(data) > LOGO_MAX_BYTES:
        raise LogoError(f"the logo is larger than {LOGO_MAX_BYTES // 1024} KiB")
    if content_type == "image/svg+xml":
        _check_svg(data)
    elif not data.startswith(_SIGNATURES[content_type]):
        raise LogoError(f"the file is named {extension} but its content is not a {extension[1:].upper()} image")
    return content_type


def _check_svg(data: bytes) -> None:
    # defusedxml refuses a document type and entities (which can expand without end or
    # read files) in any encoding, UTF-16 included; a logo needs neither.
    document = _Document()
    parser = DefusedXMLParser(target=document, forbid_dtd=True)
    try:
        parser.feed(data)
        root = parser.close()
    except DefusedXmlException:
        raise LogoError("an SVG logo must not declare a DOCTYPE or entities") from None
    except ElementTree.ParseError:
        raise LogoError("the file is named .svg but its content is not an SVG image") from None
    if root.tag not in (f"{{{_SVG_NAMESPACE}}}svg", "svg"):
        raise LogoError("the file is named .svg but its content is not an SVG image")
    if document.instructions:  # <?xml-stylesheet href="..."?> loads a style sheet
        raise LogoError(f"an SVG logo must not contain the processing instruction <?{document.instructions[0]}?>")
    for element in root.iter():
        name = _name(element.tag)
        if name not in _ELEMENTS:
            raise LogoError(f"an SVG logo must not contain <{name}> elements")
        if name == "style" and _EXTERNAL_CSS.search(element.text or ""):
            raise LogoError("an SVG logo's <style> must not use @import or url() to another file")
        for attribute, value in element.attrib.items():
            _check_attribute(name, _name(attribute), value)


class _Document(ElementTree.TreeBuilder):
    """The parsed tree, and the processing instructions found anywhere in the file (the
    tree keeps none of those before or after the root)."""

    def __init__(self):
        super().__init__()
        self.instructions: list[str] = []

    def pi(self, target, text=None):
        self.instructions.append(f"{target} {text or ''}".strip())
        return super().pi(target, text)


def _check_attribute(element: str, attribute: str, value: str) -> None:
    if attribute not in _ATTRIBUTES:
        raise LogoError(f"an SVG logo must not carry the attribute {attribute!r} (on <{element}>)")
    if attribute in ("href", "xlink:href") and not _LOCAL_HREF.match(value.strip()):
        raise LogoError(f"an SVG logo must not link to other files ({attribute} on <{element}>)")
    if _EXTERNAL_CSS.search(value):
        raise LogoError(f"an SVG logo must not use @import or url() to another file ({attribute} on <{element}>)")


def _name(tag: str) -> str:
    """An element's or attribute's name as written in an SVG: the SVG namespace left out,
    xlink: and xml: as prefixes, any other namespace in full."""
    namespace, _, local = tag[1:].rpartition("}") if tag.startswith("{") else ("", "", tag)
    if namespace in ("", _SVG_NAMESPACE):
        return local
    prefix = {_XLINK_NAMESPACE: "xlink", _XML_NAMESPACE: "xml"}.get(namespace)
    return f"{prefix}:{local}" if prefix else f"{{{namespace}}}{local}"
