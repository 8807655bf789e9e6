"""`minnova-idp` installs from a private infra repository (issue 24 item 7), as docs/app-developers.md says: the
token reaches git as an HTTP header from the environment (GIT_CONFIG_COUNT/KEY/VALUE), never in the URL that pip
prints, and never in any output.

The server is real git (`git http-backend`, the smart HTTP protocol GitHub speaks) behind Python's http.server on
127.0.0.1, refusing every request without the right basic-auth header. The header lines are taken from the
documentation's block, their host changed from github.com to this server; pip then builds and installs the package
from it (its own build, so the shipped CI templates are checked to be in a real wheel too).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR
from tests.support.doc_commands import blocks

pytestmark = pytest.mark.integration  # a git server, git and pip

TOKEN = "ghs_infraReadToken0123456789abcdef"  # what a CI secret or a developer's token would hold


def documented_header_lines() -> list[str]:
    (block,) = [b for b in blocks(PROJECT_DIR / "docs/app-developers.md") if "GIT_CONFIG_VALUE_0" in b.text]
    return [line for line in block.script().splitlines() if line.startswith("export GIT_CONFIG")]


def git_server(root: Path, expected: str) -> ThreadingHTTPServer:
    class GitOverHttp(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            self.serve()

        def do_POST(self):
            self.serve()

        def serve(self):
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="infra"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            env = {"PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": str(root), "GIT_HTTP_EXPORT_ALL": "1",
                   "PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": self.command,
                   "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
                   "REMOTE_ADDR": "127.0.0.1", "REMOTE_USER": "x-access-token",
                   "GIT_PROTOCOL": self.headers.get("Git-Protocol", "")}
            output = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True,
                                    timeout=60).stdout
            head, _, payload = re.split(rb"(\r?\n\r?\n)", output, maxsplit=1) if output else (b"", b"", b"")
            status, headers = 200, []
            for line in head.decode().splitlines():
                key, _, value = line.partition(":")
                if key.lower() == "status":
                    status = int(value.split()[0])
                else:
                    headers.append((key, value.strip()))
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), GitOverHttp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def infra_server(tmp_path):
    """The infra repository (this project's files, committed) served at http://127.0.0.1:PORT/infra.git."""
    source = tmp_path / "source"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_DIR, capture_output=True, text=True,
                           check=True).stdout.split("\0")
    for name in filter(None, files):
        if (PROJECT_DIR / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_DIR / name, source / name)
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=source, check=True)
    subprocess.run([*git, "add", "-A"], cwd=source, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "infra"], cwd=source, check=True)
    root = tmp_path / "served"
    root.mkdir()
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(root / "infra.git")], check=True)
    expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    server = git_server(root, expected)
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def install(tmp_path: Path, base: str, header_lines: list[str]) -> subprocess.CompletedProcess:
    """The documented install against the local server: the header lines, then pip (the build needs no network
    beyond the build backend pip already has; the dependencies are the suite's own, so --no-deps)."""
    target = tmp_path / f"installed-{len(list(tmp_path.iterdir()))}"
    script = "\n".join([*header_lines, f'"{sys.executable}" -m pip install --no-deps --target "{target}" '
                                       f'"minnova-idp @ git+{base}infra.git"'])
    environment = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    result = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True, timeout=600,
                            env={**environment, "INFRA_TOKEN": TOKEN, "GIT_TERMINAL_PROMPT": "0",
                                 "HOME": str(tmp_path), "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    result.target = target
    return result


def test_the_documented_header_installs_from_a_repository_that_needs_credentials(infra_server, tmp_path):
    lines = [line.replace("http.https://github.com/", f"http.{infra_server}") for line in documented_header_lines()]
    assert len(lines) == 2 and "Authorization: Basic" in lines[1] and "$INFRA_TOKEN" in lines[1]

    refused = install(tmp_path, infra_server, [])  # no credential: the server refuses, and pip says so
    assert refused.returncode != 0
    assert "401" in refused.stderr or "Authentication failed" in refused.stderr or "could not read" in refused.stderr

    installed = install(tmp_path, infra_server, lines)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    assert (installed.target / "minnova_idp/authoring/app_ci/minnova.yml").is_file()  # package data in the wheel
    assert (installed.target / "minnova_idp/cli/main.py").is_file()
    encoded = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    for result in (refused, installed):
        assert TOKEN not in result.stdout + result.stderr and encoded not in result.stdout + result.stderr
    assert not list(tmp_path.glob("**/.gitconfig"))  # nothing written to a git config file
