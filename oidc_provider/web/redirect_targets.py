"""Where a sign-in may send the browser afterwards: a path on this site, or nowhere."""

from urllib.parse import urlsplit


def local_path(value: str, under: str = "/") -> str:
    """``value`` when it is a path on this site beginning with ``under``, else "": a sign-in
    must never send the browser to another site. Browsers drop tabs and line breaks from
    URLs, so "/\\t/evil.example" would become "//evil.example"; and a line break in a
    Location header is no header at all. Anything not printable is refused."""
    parts = urlsplit(value)
    local = (
        value.startswith(under)
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and value.isprintable()
    )
    return value if local and not (parts.scheme or parts.netloc) else ""
