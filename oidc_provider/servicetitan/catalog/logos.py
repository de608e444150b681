"""The partner logo that ServiceTitan's "General Information" step takes.

ServiceTitan accepts .jpeg, .png, .jpg and .svg. A file is judged by its content, not only
its name: the extension must agree with what the bytes are, and an SVG must be a plain
drawing, since an SVG can carry scripts and links that run wherever it is opened.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

LOGO_MAX_BYTES = 1024 * 1024
EXTENSIONS = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}

_SIGNATURES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
_SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"
_FORBIDDEN_ELEMENTS = {"script", "foreignObject", "iframe", "embed", "object"}


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
    # A document type can declare entities that expand without end; a logo needs none.
    if re.search(rb"<!(DOCTYPE|ENTITY)", data, re.IGNORECASE):
        raise LogoError("an SVG logo must not declare a DOCTYPE or entities")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        raise LogoError("the file is named .svg but its content is not an SVG image") from None
    if root.tag not in (f"{_SVG_NAMESPACE}svg", "svg"):
        raise LogoError("the file is named .svg but its content is not an SVG image")
    for element in root.iter():
        if _local(element.tag) in _FORBIDDEN_ELEMENTS:
            raise LogoError("an SVG logo must not contain scripts or embedded content")
        for name, value in element.attrib.items():
            attribute = _local(name).lower()
            if attribute.startswith("on"):
                raise LogoError("an SVG logo must not contain scripts or event handlers")
            if attribute == "href" and not value.startswith(("#", "data:image/png", "data:image/jpeg")):
                raise LogoError("an SVG logo must not link to other files")


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1] if isinstance(name, str) else ""
