"""A git provider's commit-status API on 127.0.0.1, for the preview approval gate (policy/approval.py).

No GitHub, GitLab, Gitea or Forgejo runs here, so this answers their list endpoints with the documented shapes:
GitHub `GET /repos/{owner}/{repo}/commits/{ref}/statuses` ({id, state, context}; newest first), GitLab
`GET /api/v4/projects/:id/repository/commits/:sha/statuses` ({id, status, name}; `name` filters), Gitea/Forgejo
`GET /api/v1/repos/{owner}/{repo}/commits/{ref}/statuses` ({id, status, context}; go-gitea/gitea
modules/structs/status.go). Each status says who wrote it (GitHub/Gitea `creator.login`, GitLab `author.username`)
and, on GitLab, its pipeline (`pipeline_id`; `GET /api/v4/projects/:id/pipelines/:pipeline_id` answers its `source`,
lib/api/entities/ci/pipeline_basic.rb). It checks the token header each provider uses and records every request.
What writes a status (who may) is each provider's rule, cited in policy/approval.py; here a test writes them, or
POSTs them as GitLab's `POST /api/v4/projects/:id/statuses/:sha` takes them (gitlabhq lib/api/commit_statuses.rb:
`ref ||= branch_names_contains(sha).first`, else 404 "References for commit"; a status goes into the CI pipeline
of that ref and SHA when there is one, else a new pipeline with `source: :external`).
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
_GITLAB_PIPELINE = re.compile(r"^/api/v4/projects/(?P<repo>[^/]+)/pipelines/(?P<id>[0-9]+)$")
_GITLAB_POST = re.compile(r"^/api/v4/projects/(?P<repo>[^/]+)/statuses/(?P<sha>[0-9a-f]{40})$")
_AUTH = {"github": ("Authorization", f"Bearer {TOKEN}"), "gitlab": ("PRIVATE-TOKEN", TOKEN),
         "gitea": ("Authorization", f"token {TOKEN}")}


@dataclass
class Forge:
    provider: str
    url: str = ""
    statuses: dict[tuple[str, str], list[dict]] = field(default_factory=dict)  # (repository, sha) -> statuses
    requests: list[str] = field(default_factory=list)
    redirect_to: str | None = None  # answer every request with a redirect there
    pipelines: dict[int, dict] = field(default_factory=dict)  # GitLab: id -> {id, sha, ref, source}
    branches: dict[str, set[str]] = field(default_factory=dict)  # GitLab: repository -> SHAs its branches contain
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    def default_writer(self) -> str:
        return "github-actions[bot]" if self.provider == "github" else "maintainer"

    def pipeline(self, repository: str, sha: str, ref: str, source: str) -> int:
        """GitLab's `pipeline_for(ref, sha)`, or a new pipeline of that source."""
        for pipeline in self.pipelines.values():
            if (pipeline["repository"], pipeline["sha"], pipeline["ref"]) == (repository, sha, ref):
                return pipeline["id"]
        pipeline_id = next(self._ids)
        self.pipelines[pipeline_id] = {"id": pipeline_id, "repository": repository, "sha": sha, "ref": ref,
                                       "source": source}
        return pipeline_id

    def post(self, repository: str, sha: str, context: str, state: str, writer: str | None = None,
             pipeline_source: str = "external", ref: str = "main") -> None:
        """A status as the provider stores it (the caller plays someone allowed to write one). GitLab: in the
        pipeline of `ref` and `sha`, made with `pipeline_source` when there is none (a CI job: `push`,
        `merge_request_event`)."""
        writer = writer or self.default_writer()
        if self.provider == "gitlab":
            row = {"name": context, "status": state, "author": {"username": writer},
                   "pipeline_id": self.pipeline(repository, sha, ref, pipeline_source), "ref": ref}
        else:
            keys = ("context", "state") if self.provider == "github" else ("context", "status")
            row = {keys[0]: context, keys[1]: state, "creator": {"login": writer}}
        self.statuses.setdefault((repository, sha), []).append(
            {"id": next(self._ids), **row, "description": "", "target_url": ""})


def serve(provider: str, writers: dict[str, str] | None = None) -> tuple[Forge, ThreadingHTTPServer]:
    """`writers`: token -> user name, who may POST statuses (GitLab)."""
    kind = "gitea" if provider == "forgejo" else provider
    forge = Forge(provider)
    forge_writers = dict(writers or {})

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
            pipeline = _GITLAB_PIPELINE.match(parts.path) if kind == "gitlab" else None
            if pipeline is not None and self.headers.get(header) == value:
                found = forge.pipelines.get(int(pipeline["id"]))
                if found is None or found["repository"] != unquote(pipeline["repo"]):
                    return self._answer(404, {"message": "404 Not found"})
                return self._answer(200, {k: v for k, v in found.items() if k != "repository"})
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

        def do_POST(self):  # noqa: N802 - GitLab's create-status endpoint, as a Developer's token calls it
            forge.requests.append(f"POST {self.path}")
            parts = urlsplit(self.path)
            match = _GITLAB_POST.match(parts.path) if kind == "gitlab" else None
            if match is None:
                return self._answer(404, {"message": "Not Found"})
            writer = forge_writers.get(self.headers.get("PRIVATE-TOKEN", ""))
            if writer is None:
                return self._answer(401, {"message": "401 Unauthorized"})
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            repository, sha = unquote(match["repo"]), match["sha"]
            ref = query.get("ref")
            if ref is None:  # branch_names_contains(sha).first: a fork's commit is on no branch of this project
                if sha not in forge.branches.get(repository, set()):
                    return self._answer(404, {"message": "404 References for commit Not Found"})
                ref = "main"
            forge.post(repository, sha, query.get("name") or query.get("context") or "default", query["state"],
                       writer=writer, ref=ref)
            return self._answer(201, forge.statuses[(repository, sha)][-1])

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
