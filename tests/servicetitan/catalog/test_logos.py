"""The partner logo: the extensions ServiceTitan accepts, judged by content; SVGs that are
plain drawings only."""

from __future__ import annotations

import pytest

from oidc_provider.servicetitan.catalog.logos import LOGO_MAX_BYTES, LogoError, check_logo

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10"/></svg>'


@pytest.mark.parametrize(
    ("filename", "data", "content_type"),
    [
        ("logo.png", PNG, "image/png"),
        ("LOGO.PNG", PNG, "image/png"),
        ("logo.jpg", JPEG, "image/jpeg"),
        ("logo.jpeg", JPEG, "image/jpeg"),
        ("logo.svg", SVG, "image/svg+xml"),
        (
            "logo.svg",
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><use href="#a"/></svg>',
            "image/svg+xml",
        ),
        (
            "logo.svg",
            '<?xml version="1.0" encoding="UTF-16"?><svg xmlns="http://www.w3.org/2000/svg">'
            '<defs><linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient></defs>'
            '<style>.a { fill: url( "#g" ) }</style><rect class="a" fill="url(#g)" style="stroke:url(#g)"/>'
            '<image href="data:image/png;base64,iVBORw0KGgo="/></svg>'.encode("utf-16"),
            "image/svg+xml",
        ),
    ],
)
def test_accepted_logos(filename, data, content_type):
    assert check_logo(filename, data) == content_type


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("logo.png", b"", "choose a .jpeg, .png, .jpg or .svg file"),
        ("logo", PNG, "ServiceTitan accepts only .jpeg, .png, .jpg and .svg files"),
        ("logo.gif", b"GIF89a", "ServiceTitan accepts only .jpeg, .png, .jpg and .svg files"),
        ("logo.webp", b"RIFF", "ServiceTitan accepts only .jpeg, .png, .jpg and .svg files"),
        ("logo.jpg", PNG, "the file is named .jpg but its content is not a JPG image"),
        ("logo.png", JPEG, "the file is named .png but its content is not a PNG image"),
        ("logo.png", PNG + b"\x00" * LOGO_MAX_BYTES, "the logo is larger than 1024 KiB"),
        ("logo.svg", b"<html></html>", "the file is named .svg but its content is not an SVG image"),
        ("logo.svg", b"<svg", "the file is named .svg but its content is not an SVG image"),
        (
            "logo.svg",
            b'<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>',
            "an SVG logo must not declare a DOCTYPE or entities",
        ),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "an SVG logo must not contain <script> elements",
        ),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><foreignObject/></svg>',
            "an SVG logo must not contain <foreignObject> elements",
        ),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
            "an SVG logo must not carry the attribute 'onload' (on <svg>)",
        ),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink">'
            b'<a x:href="javascript:alert(1)"><rect/></a></svg>',
            "an SVG logo must not contain <a> elements",
        ),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><image href="https://tracker.example/p.png"/></svg>',
            "an SVG logo must not link to other files (href on <image>)",
        ),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink">'
            b'<use x:href="https://evil.example/sprite.svg#a"/></svg>',
            "an SVG logo must not link to other files (xlink:href on <use>)",
        ),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><style>@import url(https://evil.example/a.css);</style></svg>',
            "an SVG logo's <style> must not use @import or url() to another file",
        ),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><style>rect { fill: URL( "https://t.example/p" ) }</style></svg>',
            "an SVG logo's <style> must not use @import or url() to another file",
        ),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><rect style="fill:url(https://t.example/p)"/></svg>',
            "an SVG logo must not use @import or url() to another file (style on <rect>)",
        ),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><use href="#a">'
            b'<set attributeName="href" to="javascript:alert(1)"/></use></svg>',
            "an SVG logo must not contain <set> elements",
        ),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><use href="#a">'
            b'<animate attributeName="href" values="javascript:alert(1)"/></use></svg>',
            "an SVG logo must not contain <animate> elements",
        ),
        (
            "logo.svg",
            '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE svg [<!ENTITY a "aaaa">]>'
            '<svg xmlns="http://www.w3.org/2000/svg">&a;</svg>'.encode("utf-16"),
            "an SVG logo must not declare a DOCTYPE or entities",
        ),
        (
            "logo.svg",
            b'<?xml-stylesheet href="https://evil.example/a.css"?><svg xmlns="http://www.w3.org/2000/svg"/>',
            'an SVG logo must not contain the processing instruction <?xml-stylesheet href="https://evil.example/a.css"?>',
        ),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:s="http://sodipodi.example/ns"><rect s:x="1"/></svg>',
            "an SVG logo must not carry the attribute '{http://sodipodi.example/ns}x' (on <rect>)",
        ),
    ],
)
def test_refused_logos(filename, data, message):
    with pytest.raises(LogoError) as refused:
        check_logo(filename, data)
    assert str(refused.value) == message
