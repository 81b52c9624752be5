"""What the stored object may be: which content types are refused, and how it is labelled.

Nothing serves the files today. These rules are for the day something does: a browser
must never run an upload as a page or a script, nor be tricked by its name.
"""

from __future__ import annotations

from urllib.parse import quote

from upload_api.errors import BadRequest

# The types a browser runs or renders as an active document (WHATWG MIME Sniffing, "MIME type
# groups": the JavaScript MIME type essences, HTML and XML MIME types), plus the plug-in and
# script hosts the API contract (v2) names. Compared with the lower-cased essence.
ACTIVE_CONTENT_TYPES = frozenset(
    {
        # HTML and XHTML
        "text/html",
        "application/xhtml+xml",
        # SVG and XML: any XML document may carry XHTML-namespaced script
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/xsl",
        "application/xml-dtd",
        "text/xml-external-parsed-entity",
        # Every JavaScript MIME type essence WHATWG lists
        "application/ecmascript",
        "application/javascript",
        "application/x-ecmascript",
        "application/x-javascript",
        "text/ecmascript",
        "text/javascript",
        "text/javascript1.0",
        "text/javascript1.1",
        "text/javascript1.2",
        "text/javascript1.3",
        "text/javascript1.4",
        "text/javascript1.5",
        "text/jscript",
        "text/livescript",
        "text/x-ecmascript",
        "text/x-javascript",
        # Other script and plug-in hosts
        "text/vbscript",
        "text/x-component",
        "application/x-shockwave-flash",
        "application/hta",
    }
)
# Any type with the +xml structured-syntax suffix (application/rss+xml, application/xslt+xml...)
# is an XML MIME type to a browser, rendered and scripted like application/xml.
_XML_SUFFIX = "+xml"

# RFC 5987 attr-char: what a filename* value may carry unencoded (letters and digits implied).
_ATTR_CHAR_PUNCTUATION = "!#$&+-.^_`|~"


def media_type_essence(content_type: str) -> str:
    """`type/subtype`, lower-cased, without parameters (`; charset=...`) or whitespace."""
    return content_type.split(";", 1)[0].strip().lower()


def is_active_content(content_type: str) -> bool:
    essence = media_type_essence(content_type)
    return essence in ACTIVE_CONTENT_TYPES or essence.endswith(_XML_SUFFIX)


def check_content_type(content_type: str, *, allow_active_content: bool) -> None:
    """400 naming contentType for a type a browser would run, unless the stage allows it."""
    if allow_active_content or not is_active_content(content_type):
        return
    raise BadRequest(
        "contentType is active content, which this API does not store",
        [
            "contentType: must not be a type a browser runs or renders as a page (HTML, SVG, XML, script); "
            f"{media_type_essence(content_type)} is one"
        ],
        reason="active_content",
    )


def content_disposition(file_name: str) -> str:
    """`attachment` with the name as RFC 6266 / RFC 5987 `filename*`, after an ASCII `filename`.

    RFC 6266 section 4.3: a recipient that understands `filename*` prefers it; `filename`
    comes first for those that do not (RFC 6266 appendix D). The fallback keeps printable
    ASCII only, with no quote, backslash or percent sign (some agents percent-decode it).
    """
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in file_name)
    encoded = quote(file_name, safe=_ATTR_CHAR_PUNCTUATION, encoding="utf-8", errors="strict")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
