"""A git provider's commit-status API on 127.0.0.1, for the preview approval gate (policy/approval.py).

No GitHub, GitLab, Gitea or Forgejo runs here, so this answers their list endpoints with the documented shapes:
GitHub `GET /repos/{owner}/{repo}/commits/{ref}/statuses` ({id, state, context}; newest first), GitLab
`GET /api/v4/projects/:id/repository/commits/:sha/statuses` ({id, status, name}; `name` filters), Gitea/Forgejo
`GET /api/v1/repos/{owner}/{repo}/commits/{ref}/statuses` ({id, status, context}; go-gitea/gitea
modules/structs/status.go). It checks the token header each provider uses and records every request.
What writes a status (who may) is each provider's rule, cited in policy/approval.py; here a test writes them.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

TOKEN = "forge-read-token"
_ROUTES = {
    "github": re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/commits/(?P<sha>[0-9a-f]{40})/statuses$"),
    "gitlab": re.compile(r"^/api/v4/projects/(?P<repo>[^/]+)/repository/commits/(?P<sha>[0-9a-f]{40})/statuses$"),
    "gitea": re.compile(r"^/api/v1/repos/(?P<repo>[^/]+/[^/]+)/commits/(?P<sha>[0-9a-f]{40})/statuses$"),
}
_AUTH = {"github": ("Authorization", f"Bearer {TOKEN}"), "gitlab": ("PRIVATE-TOKEN", TOKEN),
         "gitea": ("Authorization", f"token {TOKEN}")}


@dataclass
class Forge:
    provider: str
    url: str = ""
    statuses: dict[tuple[str, str], list[dict]] = field(default_factory=dict)  # (repository, sha) -> statuses
    requests: list[str] = field(default_factory=list)
    redirect_to: str | None = None  # answer every request with a redirect there
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def post(self, repository: str, sha: str, context: str, state: str) -> None:
        """A status as the provider stores it (the caller plays someone allowed to write one)."""
        keys = {"github": ("context", "state"), "gitlab": ("name", "status")}.get(self.provider, ("context", "status"))
        self.statuses.setdefault((repository, sha), []).append(
            {"id": next(self._ids), keys[0]: context, keys[1]: state, "description": "", "target_url": ""})


def serve(provider: str) -> tuple[Forge, ThreadingHTTPServer]:
    kind = "gitea" if provider == "forgejo" else provider
    forge = Forge(provider)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):  # noqa: N802 (http.server's name)
            forge.requests.append(self.path)
            if forge.redirect_to:
                self.send_response(302)
                self.send_header("Location", forge.redirect_to)
                self.end_headers()
                return
            parts = urlsplit(self.path)
            match = _ROUTES[kind].match(parts.path)
            header, value = _AUTH[kind]
            if match is None:
                return self._answer(404, {"message": "Not Found"})
            if self.headers.get(header) != value:
                return self._answer(401, {"message": "Bad credentials"})
            found = list(forge.statuses.get((unquote(match["repo"]), match["sha"]), []))
            query = parse_qs(parts.query)
            if kind == "gitlab":
                if "name" in query:
                    found = [s for s in found if s["name"] == query["name"][0]]
            else:
                found.reverse()  # newest first
            size = int((query.get("per_page") or query.get("limit") or ["30"])[0])
            return self._answer(200, found[:size])

        def _answer(self, code: int, body) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    forge.url = f"http://127.0.0.1:{server.server_address[1]}/"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return forge, server
