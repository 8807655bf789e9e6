"""Reading a commit's statuses from the app's git provider, for the preview approval gate (policy/approval.py).

One GET per render, with the platform's read-only token, bounded in time and size. Redirects are not followed: the
token would go with them to wherever the response points. The token is never part of an error message.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from minnova_idp.model.errors import ConfigError, Problem
from minnova_idp.policy.approval import APPROVAL_CONTEXT, CommitStatus, api_problem, parse_statuses

MAX_RESPONSE_BYTES = 1024 * 1024
TIMEOUT_SECONDS = 10
PAGE_SIZE = {"github": 100, "gitlab": 100, "gitea": 50, "forgejo": 50}  # each provider's largest page


def statuses_url(provider: str, api: str, repository: str, sha: str) -> str:
    """GitHub: GET /repos/{owner}/{repo}/commits/{ref}/statuses (newest first); GitLab: GET
    /projects/:id/repository/commits/:sha/statuses, `all` (not only the latest per name) filtered by `name`; Gitea and
    Forgejo: GET /repos/{owner}/{repo}/commits/{ref}/statuses (routers/api/v1/api.go, the /commits/{ref} group)."""
    base, size = api.rstrip("/"), PAGE_SIZE[provider]
    if provider == "github":
        return f"{base}/repos/{repository}/commits/{sha}/statuses?per_page={size}"
    if provider == "gitlab":
        query = urllib.parse.urlencode({"all": "true", "name": APPROVAL_CONTEXT, "per_page": size})
        return f"{base}/api/v4/projects/{urllib.parse.quote(repository, safe='')}/repository/commits/{sha}/statuses?{query}"
    return f"{base}/api/v1/repos/{repository}/commits/{sha}/statuses?limit={size}&sort=recentupdate"


def _headers(provider: str, token: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": "minnova-idp render-preview"}
    if provider == "github":
        headers.update({"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"})
    if token:
        headers.update({"github": {"Authorization": f"Bearer {token}"}, "gitlab": {"PRIVATE-TOKEN": token}}.get(
            provider, {"Authorization": f"token {token}"}))
    return headers


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: D102 - never follow: the token would go along
        return None


def _get_json(provider: str, url: str, token: str | None, refused) -> object:
    """One bounded GET; any failure raises refused(reason)."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers=_headers(provider, token))
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            body = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise refused(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise refused(type(exc).__name__) from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise refused(f"the response is larger than {MAX_RESPONSE_BYTES} bytes")
    try:
        return json.loads(body)
    except ValueError:
        return None


def _refusal(sha: str, url: str, shown: str):
    def refused(reason: str) -> ConfigError:
        return ConfigError([Problem(shown, APPROVAL_CONTEXT, f"could not read the approval of {sha} from "
                                    f"{url.split('?')[0]}: {reason}", hint="the preview stays as it was; Argo CD "
                                    "tries again at its next refresh")])
    return refused


def fetch_statuses(provider: str, api: str, repository: str, sha: str, token: str | None,
                   shown: str) -> tuple[list[CommitStatus], bool]:
    """The statuses of `sha` (one page) and whether the page was full. Any failure refuses the render."""
    url = statuses_url(provider, api, repository, sha)
    refused = _refusal(sha, url, shown)
    if (why := api_problem(api)) is not None:
        raise refused(why)
    statuses = parse_statuses(provider, _get_json(provider, url, token, refused))
    if statuses is None:
        raise refused("the response is not a list of commit statuses")
    return statuses, len(statuses) >= PAGE_SIZE[provider]


def fetch_gitlab_pipeline_source(api: str, repository: str, pipeline_id: int, sha: str, token: str | None,
                                 shown: str) -> str | None:
    """GitLab `GET /projects/:id/pipelines/:pipeline_id` (lib/api/ci/pipelines.rb; Entities::Ci::Pipeline has
    `source`): whether the approving status's pipeline is one the status API made (policy/approval.py)."""
    url = f"{api.rstrip('/')}/api/v4/projects/{urllib.parse.quote(repository, safe='')}/pipelines/{pipeline_id}"
    refused = _refusal(sha, url, shown)
    if (why := api_problem(api)) is not None:
        raise refused(why)
    pipeline = _get_json("gitlab", url, token, refused)
    if not isinstance(pipeline, dict) or pipeline.get("id") != pipeline_id:
        raise refused("the response is not that pipeline")
    source = pipeline.get("source")
    return source if isinstance(source, str) else None
