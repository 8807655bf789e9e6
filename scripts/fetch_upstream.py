"""Download the pinned upstream CRDs and Helm charts the strict tests use (for machines with network access).

    .venv/bin/python scripts/fetch_upstream.py [DEST]        # default DEST: ../shared (beside the checkout)

Writes DEST/crds/*.yaml and DEST/charts/<chart>-<version>.tgz, the layout the tests read through
MINNOVA_CRDS_DIR / MINNOVA_CHARTS_DIR (default ../shared/crds and ../shared/charts). Versions are the ones pinned
in minnova_idp/model/versions.py (charts) and below (CRDs, from each project's release tag). Charts come through
helm-python-sdk (Helm's own pull, from each chart's repository index), CRDs from the tagged sources. Nothing
here runs in the tests: a fresh clone without DEST skips those tests with a reason.

Everything is downloaded into a temporary directory first and moved into DEST only when all of it arrived: offline,
or when one download fails, it says which and writes nothing (exit 1), so no empty DEST/crds or DEST/charts makes the
tests look for files that are not there.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from minnova_idp.model import versions  # noqa: E402

GITHUB_RAW = "https://raw.githubusercontent.com"
CRDS = {
    # Argo CD v3.4.4 (the chart's appVersion): manifests/crds in the tagged source.
    **{f"argoproj.io_{kind}s.yaml": f"{GITHUB_RAW}/argoproj/argo-cd/v3.4.4/manifests/crds/{kind}-crd.yaml"
       for kind in ("application", "applicationset", "appproject")},
    # CloudNativePG 1.30.0: config/crd/bases in the tagged source.
    **{f"postgresql.cnpg.io_{kind}.yaml":
       f"{GITHUB_RAW}/cloudnative-pg/cloudnative-pg/v1.30.0/config/crd/bases/postgresql.cnpg.io_{kind}.yaml"
       for kind in ("clusters", "scheduledbackups", "backups", "databases", "poolers")},
    # Barman Cloud plugin (the pinned plugin version).
    "barmancloud.cnpg.io_objectstores.yaml": f"{GITHUB_RAW}/cloudnative-pg/plugin-barman-cloud/"
                                             f"{versions.BARMAN_CLOUD_PLUGIN_VERSION}/config/crd/bases/"
                                             "barmancloud.cnpg.io_objectstores.yaml",
    # Traefik v3.7.9 (the ingress controller of the example stacks): the Middleware CRD, for host aliases' redirects
    # (minnova_idp/render/host_aliases.py).
    "traefik.io_middlewares.yaml": f"{GITHUB_RAW}/traefik/traefik/v3.7.9/docs/content/reference/"
                                   "dynamic-configuration/traefik.io_middlewares.yaml",
    # mariadb-operator 26.6.0: config/crd/bases in the tagged source (what its CRDs chart ships).
    **{f"k8s.mariadb.com_{kind}.yaml":
       f"{GITHUB_RAW}/mariadb-operator/mariadb-operator/v{versions.MARIADB_OPERATOR.version}/config/crd/bases/"
       f"k8s.mariadb.com_{kind}.yaml"
       for kind in ("mariadbs", "databases", "users", "grants", "backups", "physicalbackups", "restores",
                    "pointintimerecoveries", "connections", "sqljobs", "maxscales", "externalmariadbs")},
    # cert-manager: the CRDs its release publishes as one file.
    "cert-manager.crds.yaml": f"https://github.com/cert-manager/cert-manager/releases/download/"
                              f"{versions.CERT_MANAGER.version}/cert-manager.crds.yaml",
}
CHARTS = (versions.ARGO_CD, versions.CERT_MANAGER, versions.CLOUDNATIVE_PG, versions.BARMAN_CLOUD_PLUGIN,
          versions.MARIADB_OPERATOR_CRDS, versions.MARIADB_OPERATOR)


def main(argv: list[str]) -> int:
    destination = Path(argv[0]) if argv else ROOT.parent / "shared"
    with tempfile.TemporaryDirectory(prefix="fetch-upstream-") as staging:
        try:
            fetched = download(Path(staging))
        except DownloadFailed as failure:
            print(f"fetch_upstream: {failure}; nothing was written to {destination}", file=sys.stderr)
            return 1
        for relative in fetched:
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(Path(staging) / relative, target)
            print(f"{relative.parts[0][:-1]:5} {target}")
    return 0


class DownloadFailed(Exception):
    pass


def download(staging: Path) -> list[Path]:
    """Every CRD and chart into `staging` (crds/, charts/); the relative paths written."""
    written = []
    (staging / "crds").mkdir()
    (staging / "charts").mkdir()
    for name, url in CRDS.items():
        try:
            with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - fixed https URLs above
                (staging / "crds" / name).write_bytes(response.read())
        except (urllib.error.URLError, OSError) as exc:  # URLError: offline, DNS, HTTP errors; OSError: timeouts
            raise DownloadFailed(f"cannot download {url}: {getattr(exc, 'reason', exc)}") from None
        written.append(Path("crds") / name)
    try:
        import helm_python
    except ImportError:
        raise DownloadFailed("the charts need helm-python-sdk (.venv/bin/pip install -e '.[dev]')") from None
    for chart in CHARTS:
        try:
            helm_python.registry.pull(chart.name, version=chart.version, repo_url=chart.repository,
                                      destination=staging / "charts")
        except Exception as exc:  # the Go SDK's errors arrive as plain exceptions with Helm's message
            raise DownloadFailed(f"cannot pull chart {chart.name} {chart.version} from {chart.repository}: "
                                 f"{exc}") from None
    written += [Path("charts") / path.name for path in sorted((staging / "charts").iterdir())]
    return written


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
