"""URLs of weights files as text: what no request can carry, a file:// URL's host and a port
checked before any request, a base URL joined with a file's name, and a URL shown in messages
without its secrets (a login, a query's values: a mirror's token)."""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit


def unsendable(url: str) -> str | None:
    """What `url` holds that no request can carry, or None. Refused up front: urlsplit drops a tab
    or line break without a word (a token pasted over two lines became another token), and
    http.client's own refusal quoted the URL with its token in clear ('S3CR\\tET')."""
    if re.search(r"[\x00-\x1f\x7f]", url):
        return "a URL cannot hold a control character (a tab or line break: pasted over two lines?)"
    if " " in url and not re.match(r"\s*file:", url, re.I):  # (a file:// URL's path is opened as it is written)
        return "a URL cannot hold a space; write it %20"
    return None


def unslashed_file_url(url: str) -> str | None:
    """Why a `file:` URL without `//` is refused (`file:rel`, `file:/mnt/w`), or None: urllib reads
    it, but the base URL joined with a file's name came out as `file:///rel/...`, a URL never given,
    and a relative path has no meaning in a URL."""
    if re.match(r"\s*file:(?!//)", url, re.I):
        return "a file URL is written with three slashes: file:///folder/name"
    return None


def file_url_problem(parts) -> str | None:
    """Why a file:// URL names no file here (None where it names one). Judged here, not by urllib
    (which is given the URL without its host): urllib checks the host only once the path exists,
    so the usual typo `file://tmp/w` (the host `tmp`) said "No such file or directory" about `/w`;
    it read file://:80/x as /x, called localhost:80 another machine, and could not look up [::1]."""
    if not _on_this_machine(parts.hostname or ""):
        return f"a file:// URL names a file on this machine, not on {netloc_host(parts.netloc)}: file:///folder/name (three slashes)"
    if "@" in parts.netloc:
        return "a file:// URL takes no login (user@): file:///folder/name"
    if ":" in netloc_host(parts.netloc).rpartition("]")[2]:  # (after an IPv6 address's brackets)
        return "a file:// URL takes no port: file:///folder/name"
    return None


def _on_this_machine(host: str) -> bool:
    """Whether a file:// URL's host names this machine, as far as is known without a DNS look-up."""
    return host in ("", "localhost", "127.0.0.1", "::1", socket.gethostname().lower())


def valid_port(parts) -> bool:
    """Whether the URL's port, where it gives one, is a number a connection can go to."""
    try:
        port = parts.port  # (a ValueError for one out of 0-65535 or not a number)
    except ValueError:
        return False
    return port is None or 1 <= port <= 65535


def joined(base: str, filename: str) -> str:
    """`filename` appended to the base URL's path: a query (a signed or token URL of a private
    mirror, `...?token=...`) stays the query of each file's URL."""
    parts = urlsplit(base)
    return parts._replace(path=parts.path.rstrip("/") + "/" + filename).geturl()


def netloc_host(netloc: str) -> str:
    """A URL's netloc without the user:password@ a private mirror's URL may carry."""
    return netloc.rpartition("@")[2]


def _masked_query(query: str) -> str:
    """Each value of a query replaced by *** (the names stay, to tell which URL it is)."""
    return "&".join(item.partition("=")[0] + "=***" if "=" in item else "***" if item else ""
                    for item in query.split("&"))


def shown(url: str) -> str:
    """`url` for messages: a user name or password in it, and the values of its query (a mirror's
    token), are replaced by ***, so an error line or a log does not print credentials. One holding
    a control character (`unsendable`) is masked as text and its tab written `\\t`: urlsplit drops
    a tab or line break, and the line said the URL held one where none showed (`/a<tab>b` as `/ab`)."""
    if re.search(r"[\x00-\x1f\x7f]", url):
        return _masked_as_text(url).replace("\t", "\\t")
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None and not parts.query and not parts.fragment:
            return url
        if parts.username is not None or parts.password is not None:
            parts = parts._replace(netloc="***@" + netloc_host(parts.netloc))
        # (a redirect's target may carry a token in its fragment too: #access_token=...)
        return parts._replace(query=_masked_query(parts.query), fragment="***" if parts.fragment else "").geturl()
    except ValueError:  # malformed (e.g. an unclosed IPv6 bracket)
        return _masked_as_text(url)


def _masked_as_text(url: str) -> str:
    """`url` masked without parsing it: its scheme kept, everything after it up to its last @
    hidden (a login, whose password may hold an unescaped / ? or #; a path's or query's @ too,
    where one cannot tell them apart), the query's values and the fragment too."""
    scheme = found[0] if (found := re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", url)) else ""
    rest = url[len(scheme):]
    rest = "***@" + rest.rpartition("@")[2] if "@" in rest else rest
    rest, hash_mark, fragment = rest.partition("#")
    head, mark, query = rest.partition("?")
    return scheme + head + mark + _masked_query(query) + hash_mark + ("***" if fragment else "")


def scrubbed(message: str, url: str) -> str:
    """`message` with the query of `url` masked wherever it appears: some errors of urllib and
    http.client quote the URL or the request path (e.g. "URL can't contain control characters")."""
    query = url.partition("?")[2].partition("#")[0]
    return message.replace(query, _masked_query(query)) if query else message
