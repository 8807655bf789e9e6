"""Every pinned upstream version, in one place.

Checked for this release (upstream snapshots read 2026-12-01):
- CloudNativePG operator 1.30.0: Helm chart `cloudnative-pg` 0.29.0 (appVersion "1.30.0").
- Barman Cloud plugin v0.14.0: Helm chart `plugin-barman-cloud` 0.7.0; the plugin and sidecar
  image tags are set explicitly below, so the plugin version does not depend on the chart's default.
- cert-manager v1.19.5: Helm chart `cert-manager` v1.19.5 (jetstack).
- Argo CD v3.4.4: Helm chart `argo-cd` 10.1.1 (argo-helm; appVersion v3.4.4, the Argo CD whose source the
  comments cite): the chart the tests render from ../shared/charts, so what is deployed is what was rendered
  here (tests/render/test_argocd.py fails when they differ). 10.0.0-10.2.2 ship 3.4.x, 10.2.3 moves to 3.5.
- PostgreSQL images from ghcr.io/cloudnative-pg/postgresql, "standard" flavour on Debian trixie
  (backups go through the plugin's sidecar, so the image needs no barman tools). Minor versions as in
  cloudnative-pg/cloudnative-pg `.github/pg_versions.json` (the operator's own list of supported images,
  last changed e101f7a1, 2026-08-15: 18.6, 17.11, 16.15) and the image catalog
  cloudnative-pg/artifacts image-catalogs/catalog-standard-trixie.yaml (2026-08-17). Nothing newer was
  visible in the upstream snapshots read on 2026-12-01.
The CRDs the tests validate against (../shared/crds) are CNPG 1.30, plugin 0.14, cert-manager 1.21.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class HelmChart:
    name: str
    version: str
    repository: str
    namespace: str
    release: str = ""  # Helm release name; default: the chart's name

    @property
    def release_name(self) -> str:
        return self.release or self.name


CERT_MANAGER = HelmChart("cert-manager", "v1.19.5", "https://charts.jetstack.io", "cert-manager")
CLOUDNATIVE_PG = HelmChart("cloudnative-pg", "0.29.0", "https://cloudnative-pg.github.io/charts", "cnpg-system")
# Must share the operator's namespace: the operator finds plugins there.
BARMAN_CLOUD_PLUGIN = HelmChart("plugin-barman-cloud", "0.7.0", "https://cloudnative-pg.github.io/charts",
                                CLOUDNATIVE_PG.namespace)
BARMAN_CLOUD_PLUGIN_VERSION = "v0.14.0"
ARGO_CD = HelmChart("argo-cd", "10.1.1", "https://argoproj.github.io/argo-helm", "argocd", release="argocd")

POSTGRES_IMAGE_REPOSITORY = "ghcr.io/cloudnative-pg/postgresql"
# Pinned by digest, as the operator's own image catalog pins them: cloudnative-pg/artifacts
# image-catalogs/catalog-standard-trixie.yaml at ce5057c (2026-08-17), the dated tag and its digest, copied exactly.
# A Cluster's imageName takes `<image>:<tag>@sha256:<digest>` (cloudnative-pg v1.30.0 api/v1/cluster_types.go:221-225).
# Refresh: scripts/refresh_image_digests.py (docs/security.md "Image pins").
POSTGRES_IMAGES = {
    16: f"{POSTGRES_IMAGE_REPOSITORY}:16.15-202608170814-standard-trixie"
        "@sha256:3df9103d7f89c8abc2870463d4d446944c81b5f1f4b707c590895dc003ecbb65",
    17: f"{POSTGRES_IMAGE_REPOSITORY}:17.11-202608170816-standard-trixie"
        "@sha256:91e0de662d53895a45f1396f4ee1a75daeb0c26fc87853afc9c8f43e01fdaa21",
    18: f"{POSTGRES_IMAGE_REPOSITORY}:18.6-202608170814-standard-trixie"
        "@sha256:771f9eab5225587af259d84680cc69a5b6e374ac32bb24effafde1f3368a1241",
}
DEFAULT_POSTGRES_VERSION = 17
# Valkey, the Linux Foundation's BSD-3-Clause continuation of Redis (valkey COPYING:3-5; Redis itself is RSALv2 or
# SSPLv1 from 7.4, redis LICENSE.txt:1-5): the project's own image (valkey-container README.md:1; there is no Docker
# library image), the Debian variant, whose `valkey` user is uid and gid 999 (Dockerfile.template:15-17; Alpine's
# group is 1000). Exact tags, newest patch of each major line that valkey-container versions.json (00a2b21) builds:
# `8`, `9` and `latest` have moved between lines over time. Tag only: no upstream source read here states their
# digests and no registry is reachable from here; scripts/refresh_image_digests.py pins them where one is.
VALKEY_IMAGE_REPOSITORY = "docker.io/valkey/valkey"
VALKEY_IMAGES = {
    8: f"{VALKEY_IMAGE_REPOSITORY}:8.1.8",
    9: f"{VALKEY_IMAGE_REPOSITORY}:9.0.4",
}
DEFAULT_VALKEY_VERSION = 9
# Percona Operator for MongoDB 1.22.0 (ADR 0014): chart `psmdb-operator` 1.22.0 (appVersion 1.22.0), the chart the
# tests render from ../shared/charts. Server and backup-agent images as the operator's own release pins them
# (percona-server-mongodb-operator@v1.22.0 e2e-tests/release_versions:2-5, deploy/cr.yaml:24,762): tags only, that
# file states no digests and no registry is reachable here (scripts/refresh_image_digests.py pins them where one
# is). 6.0 (6.0.27-21 there) is left out: MongoDB 6.0 reached its end of life in July 2025.
PSMDB_OPERATOR = HelmChart("psmdb-operator", "1.22.0", "https://percona.github.io/percona-helm-charts",
                           "psmdb-operator")
PSMDB_CR_VERSION = "1.22.0"  # spec.crVersion: the operator's behaviour switches on it (cr.CompareVersion)
MONGODB_IMAGE_REPOSITORY = "docker.io/percona/percona-server-mongodb"
MONGODB_IMAGES = {
    "7.0": f"{MONGODB_IMAGE_REPOSITORY}:7.0.30-16",
    "8.0": f"{MONGODB_IMAGE_REPOSITORY}:8.0.19-7",
}
DEFAULT_MONGODB_VERSION = "8.0"
PBM_IMAGE = "docker.io/percona/percona-backup-mongodb:2.12.0"
# Restore drills run kubectl from the Kubernetes project's own image (registry.k8s.io/kubectl, published since
# Kubernetes 1.28; distroless, no shell): bitnami/kubectl gets no versioned updates since 2025-08. Tag only, as
# Valkey's (no citable digest, no registry reachable here): scripts/refresh_image_digests.py pins it where one is.
KUBECTL_IMAGE = "registry.k8s.io/kubectl:v1.34.1"

# An image reference of this table: `<repository>:<tag>`, optionally `@sha256:<digest>` (then the digest is what runs).
IMAGE_REFERENCE = re.compile(r"^(?P<repository>[a-z0-9][a-z0-9./_-]*(?::[0-9]+)?(?:/[a-z0-9._-]+)*)"
                             r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9._-]{0,127})(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")


def pinned_images() -> dict[str, str]:
    """Every image the platform itself runs, by where it is set in this module (what the refresh script reads)."""
    images = {f"POSTGRES_IMAGES[{major}]": image for major, image in POSTGRES_IMAGES.items()}
    images.update({f"VALKEY_IMAGES[{major}]": image for major, image in VALKEY_IMAGES.items()})
    images["KUBECTL_IMAGE"] = KUBECTL_IMAGE
    images.update({f"MONGODB_IMAGES[{major}]": image for major, image in MONGODB_IMAGES.items()})
    images["PBM_IMAGE"] = PBM_IMAGE
    images.update({f"MARIADB_IMAGES[{series}]": image for series, image in MARIADB_IMAGES.items()})
    return images


# MariaDB, run by mariadb-operator 26.6.0 (ADR 0013). The Docker library image `mariadb` is what the operator runs
# when a MariaDB names no image (mariadb-operator@v26.6.0 Makefile:24-27, docs/docker.md:19: `mariadb:11.8.8`, its
# default). Long-term-support series only: 11.8 at the operator's own default; 10.11 at 10.11.19, the release the
# real-engine tests run here (Debian bookworm's mariadb-server 1:10.11.19-0+deb12u1). 11.4 is left out: no source
# read here names a current 11.4 patch (the operator's newest mention is 11.4.5, config/manager/manager.yaml:48).
# Tag only, as Valkey's: neither the operator's source nor anything reachable here states the images' digests;
# scripts/refresh_image_digests.py pins them where a registry is reachable.
# Chart repository: mariadb-operator@v26.6.0 docs/helm.md:78.
MARIADB_OPERATOR = HelmChart("mariadb-operator", "26.6.0", "https://mariadb-operator.github.io/mariadb-operator",
                             "mariadb-operator")
MARIADB_OPERATOR_CRDS = HelmChart("mariadb-operator-crds", "26.6.0", "https://mariadb-operator.github.io/mariadb-operator",
                                  "mariadb-operator")
MARIADB_IMAGE_REPOSITORY = "docker.io/library/mariadb"
MARIADB_IMAGES = {
    "10.11": f"{MARIADB_IMAGE_REPOSITORY}:10.11.19",
    "11.8": f"{MARIADB_IMAGE_REPOSITORY}:11.8.8",
}
DEFAULT_MARIADB_VERSION = "11.8"
