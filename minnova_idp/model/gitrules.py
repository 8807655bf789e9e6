"""What a git URL, ref and repository path may be: one set of rules for the models and for fetching.

The registry models apply them to what the platform team writes; gitsource applies them again
to whatever it is asked to fetch, because a value that reaches `git` must never be read as an
option (leading '-'), a glob (ls-remote patterns) or a path outside the repository.
"""

from __future__ import annotations

import re

_SCP_LIKE_RE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!//)[^\s]+$")
_URL_RE = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<rest>\S+)$")
# A subset of git-check-ref-format: enough to keep refs from being read as options or
# ls-remote glob patterns, and to refuse what git itself would refuse.
_BAD_REF_RE = re.compile(r"(\.\.|[\x00-\x20\x7f~^:?*\[\\]|@\{|//|^[-/.]|[/.]$|\.lock$)")
REGISTRY_SCHEMES = ("https", "ssh", "file")


def _has_control_characters(value: str) -> bool:
    return any(ord(c) < 0x20 or c == "\x7f" for c in value)


def check_fetchable_url(url: str) -> None:
    """What any URL handed to git must satisfy (gitsource also fetches git:// in tests)."""
    if not url:
        raise ValueError("empty repository URL")
    if url.startswith("-"):
        raise ValueError(f"'{url}' is not a git URL: it must not start with '-'")
    if _has_control_characters(url):
        raise ValueError("repository URL contains control characters")


# Query parameters git URLs never need, but tokens travel in (GitLab's ?private_token=, presigned URLs).
_CREDENTIAL_HINT = "never put credentials in the registry: set minnova:gitToken (or gitSshPrivateKey) as a Pulumi secret"


def redact_url(value: str) -> str:
    """`value` safe to print: no user info, no query, no fragment (where credentials hide)."""
    match = _URL_RE.fullmatch(value)
    if match:
        rest = re.split(r"[?#]", match["rest"], maxsplit=1)[0]
        authority, slash, path = rest.partition("/")
        host = authority.rsplit("@", 1)[-1]
        return f"{match['scheme']}://{'***@' if '@' in authority else ''}{host}{slash}{path}"
    if _SCP_LIKE_RE.fullmatch(value):
        return re.split(r"[?#]", value, maxsplit=1)[0]
    return "<not a URL>"


def check_registry_url(value: str) -> str:
    """A registry entry's `repo`: https, ssh (or scp-like) or file, never with credentials in it.

    Errors never print credentials: a URL with a password, an https user or a query is shown redacted.
    """
    check_fetchable_url(value)
    if _SCP_LIKE_RE.fullmatch(value):
        if re.search(r"[?#]", value):
            raise ValueError(f"'{redact_url(value)}' embeds a query (not shown); {_CREDENTIAL_HINT}. If it was "
                             "pushed, revoke that credential.")
        return value
    match = _URL_RE.fullmatch(value)
    if not match:
        raise ValueError(f"'{redact_url(value)}' is not a git URL; use https://host/owner/repo.git or "
                         "git@host:owner/repo.git")
    scheme, rest = match["scheme"], match["rest"]
    authority = rest.split("/", 1)[0]
    userinfo = authority.rsplit("@", 1)[0] if "@" in authority else ""
    if ":" in userinfo or (scheme in ("https", "http") and userinfo) or re.search(r"[?#]", rest):
        raise ValueError(f"'{redact_url(value)}' embeds credentials (a password, a user or a query; not shown "
                         f"here); {_CREDENTIAL_HINT}. If it was pushed, revoke that credential.")
    if scheme == "http":
        raise ValueError(f"'{value}' uses plain http; use https://")
    if scheme not in REGISTRY_SCHEMES:
        raise ValueError(f"'{redact_url(value)}': scheme {scheme}:// is not supported; use https:// or ssh://")
    return value


def check_ref(value: str) -> str:
    """A branch, tag or commit SHA."""
    if value.startswith("-"):
        raise ValueError(f"'{value}' is not a valid git branch, tag or commit SHA: it must not start with '-'")
    if not value or _BAD_REF_RE.search(value):
        raise ValueError(f"'{value}' is not a valid git branch, tag or commit SHA")
    return value


def normalize_subpath(value: str, allow_root: bool = False) -> str:
    """A directory inside the repository as 'a/b' ('' for the root, where allowed).

    Refused: absolute paths, '.', '..' and '.git' components, empty components, a leading '-'
    on any component, control characters.
    """
    stripped = value.strip("/")
    if allow_root and stripped == "":
        return ""
    parts = stripped.split("/")
    if value.startswith("/") or _has_control_characters(value) or any(p in ("", ".", "..", ".git") for p in parts):
        raise ValueError(f"'{value}' must be a relative path inside the repository, without '..' (nor '.', '.git' or empty parts)")
    if any(part.startswith("-") for part in parts):
        raise ValueError(f"'{value}': no part of the path may start with '-'")
    return stripped


def ssh_known_hosts_name(url: str) -> str | None:
    """How known_hosts names the server of an SSH URL (`host`, or `[host]:port` off port 22); None if not SSH."""
    if _SCP_LIKE_RE.fullmatch(url):
        return url.split("@", 1)[1].split(":", 1)[0].lower()
    match = _URL_RE.fullmatch(url)
    if not match or match["scheme"] != "ssh":
        return None
    authority = match["rest"].split("/", 1)[0].rsplit("@", 1)[-1].lower()
    host, _, port = authority.partition(":")
    return f"[{host}]:{port}" if port and port != "22" else host


def known_hosts_names(text: str, name: str) -> bool:
    """Whether known_hosts `text` has a key for `name` (plain or hashed `|1|salt|hmac` entries, as ssh-keyscan -H
    writes them; markers such as @cert-authority are skipped: Argo CD reads plain host keys)."""
    import base64
    import hashlib
    import hmac

    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[0].startswith(("#", "@")):
            continue
        for pattern in fields[0].split(","):
            if pattern.startswith("|1|"):
                try:
                    _, _, salt, digest = pattern.split("|")
                    expected = base64.b64decode(digest)
                    actual = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
                except ValueError:
                    continue
                if hmac.compare_digest(expected, actual):
                    return True
            elif pattern.lower() == name:
                return True
    return False
