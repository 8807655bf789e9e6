"""The environment every git call runs in, and the credentials it carries.

Credentials never reach argv or any file in a repository: the https token travels in
``GIT_CONFIG_*`` environment variables as an ``http.<prefix>.extraHeader``, sent only to URLs
under ``GitAuth.token_url_prefix``; the SSH key is a 0600 file in a private temp dir that lives
only as long as `ssh_command_for`'s block. `redact` takes the token (raw and as Basic
credentials) and URL passwords out of any text before it is shown.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "GitAuth",
    "build_git_env",
    "build_ssh_command",
    "redact",
    "redact_url",
    "ssh_command_for",
    "summarize_stderr",
]

_URL_CREDENTIALS_RE = re.compile(r"(://[^/@:\s]+):[^/@\s]+@")

# Config that applies to every git call, passed as GIT_CONFIG_* (command scope, so it
# beats any repo config). Module-level so tests can add e.g. protocol.version=0.
_BASE_CONFIG: tuple[tuple[str, str], ...] = (
    # Only these transports: blocks ext::/fd:: and arbitrary git-remote-<helper>s,
    # which could run commands named by a hostile URL.
    ("protocol.allow", "never"),
    ("protocol.https.allow", "always"),
    ("protocol.http.allow", "always"),
    ("protocol.ssh.allow", "always"),
    ("protocol.git.allow", "always"),
    ("protocol.file.allow", "always"),
    # v2 lets us fetch any commit or blob by id (v0 needs server opt-in).
    ("protocol.version", "2"),
    # No background gc/maintenance processes outliving our timeouts and locks.
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    # No sample hooks, no "default branch name" hint on init.
    ("init.templateDir", ""),
    ("init.defaultBranch", "main"),
    ("credential.helper", ""),
)


@dataclass(frozen=True)
class GitAuth:
    token: str | None = field(default=None, repr=False)
    token_username: str = "x-access-token"  # GitHub App/PAT convention; GitLab: "oauth2"
    token_url_prefix: str | None = None  # e.g. "https://github.com/"; token sent only there
    ssh_private_key: str | None = field(default=None, repr=False)
    ssh_known_hosts: str | None = None  # when set: StrictHostKeyChecking=yes, only these



# --------------------------------------------------------------------------- redaction


def redact_url(text: str) -> str:
    return _URL_CREDENTIALS_RE.sub(r"\1:***@", text)


def _secrets(auth: GitAuth) -> list[str]:
    if not auth.token:
        return []
    return [auth.token, _basic_credentials(auth)]


def redact(text: str, auth: GitAuth) -> str:
    for secret in _secrets(auth):
        text = text.replace(secret, "***")
    return redact_url(text)


def summarize_stderr(stderr: str, returncode: int) -> str:
    """Pick the line a human needs from git's stderr ('fatal: X' -> 'X')."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for prefix in ("fatal: ", "error: "):
        for line in lines:
            if line.startswith(prefix):
                return line[len(prefix) :]
    meaningful = [line for line in lines if not line.startswith(("warning: ", "hint: "))]
    if meaningful:
        return meaningful[-1]
    return f"exit code {returncode}"


# --------------------------------------------------------------------------- environment


def _basic_credentials(auth: GitAuth) -> str:
    raw = f"{auth.token_username}:{auth.token}".encode()
    return base64.b64encode(raw).decode("ascii")


def _url_has_prefix(url: str, prefix: str) -> bool:
    # Require a path boundary so "https://github.com" never matches
    # "https://github.com.evil.example/...". git's own http.<url>.* matching is a
    # second, independent gate.
    if not url.startswith(prefix):
        return False
    return prefix.endswith("/") or len(url) == len(prefix) or url[len(prefix)] in "/?#"


def _auth_config(auth: GitAuth, url: str) -> list[tuple[str, str]]:
    if not auth.token or not auth.token_url_prefix:
        return []
    prefix = auth.token_url_prefix
    if any(ord(c) < 0x20 for c in prefix) or not _url_has_prefix(url, prefix):
        return []
    header = f"Authorization: Basic {_basic_credentials(auth)}"
    return [(f"http.{prefix}.extraHeader", header)]


def build_git_env(
    auth: GitAuth,
    url: str,
    *,
    home: Path,
    ssh_command: str | None = None,
    extra_config: Sequence[tuple[str, str]] = (),
    base_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for one git call on `url`: isolated from user config, never prompts.

    The token (if any, and only when `url` is under `auth.token_url_prefix`) is the only
    secret and it lives here, in GIT_CONFIG_VALUE_<n>, never in argv.
    """
    source = os.environ if base_env is None else base_env
    # Inherited GIT_* (GIT_DIR, GIT_CONFIG_PARAMETERS, GIT_TRACE_CURL, ...) would change
    # what git does or log the auth header.
    env = {k: v for k, v in source.items() if not k.startswith("GIT_") and k != "SSH_ASKPASS"}
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "LC_ALL": "C",
            "LANGUAGE": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            # Also hides ~/.netrc from curl and ~/.gitconfig from old gits.
            "HOME": str(home),
            # Never pick up a repository enclosing the cwd (ls-remote runs without one).
            "GIT_CEILING_DIRECTORIES": str(home.parent),
            "GIT_LITERAL_PATHSPECS": "1",
        }
    )
    if ssh_command:
        env["GIT_SSH_COMMAND"] = ssh_command
    config = [*_BASE_CONFIG, *extra_config, *_auth_config(auth, url)]
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for index, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def build_ssh_command(key_file: Path | None, known_hosts_file: Path | None) -> str:
    """GIT_SSH_COMMAND: never prompts; with a key, only that key; with known_hosts, only those."""
    argv = ["ssh", "-o", "BatchMode=yes"]
    if key_file is not None:
        argv += ["-i", str(key_file), "-o", "IdentitiesOnly=yes"]
    if known_hosts_file is not None:
        argv += [
            "-o",
            f"UserKnownHostsFile={known_hosts_file}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
        ]
    return shlex.join(argv)


def _write_private(path: Path, text: str) -> None:
    # O_EXCL + 0600 from the start: the key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        # OpenSSH rejects a private key without the trailing newline.
        handle.write(text if text.endswith("\n") else text + "\n")


@contextlib.contextmanager
def ssh_command_for(auth: GitAuth) -> Iterator[str]:
    """Yield a GIT_SSH_COMMAND; key/known_hosts temp files are deleted on exit."""
    if not auth.ssh_private_key and not auth.ssh_known_hosts:
        yield build_ssh_command(None, None)
        return
    tmp = Path(tempfile.mkdtemp(prefix="minnova-idp-ssh-"))  # 0700
    try:
        key_file = known_hosts = None
        if auth.ssh_private_key:
            key_file = tmp / "id_key"
            _write_private(key_file, auth.ssh_private_key)
        if auth.ssh_known_hosts:
            known_hosts = tmp / "known_hosts"
            _write_private(known_hosts, auth.ssh_known_hosts)
        yield build_ssh_command(key_file, known_hosts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

