# The preview renderer: the image of Argo CD's Config Management Plugin sidecar, which runs
# `minnova-idp render-preview` (deploy/argocd/plugin.yaml). It needs only the library, not the
# Pulumi SDKs, so they are left out (the runtime dependencies below mirror pyproject.toml;
# tests/render/test_argocd.py keeps them in step).
#   docker build -t ghcr.io/<org>/minnova-idp:<version> .   then set minnova:previews.rendererImage
# Base image by digest (a tag can be re-pushed, a digest cannot); the tag stays for humans and is ignored
# by the pull. The digest is the one public projects pin for this tag (it could not be checked against
# Docker Hub from here): check it, and re-pin after a version bump, with
#   docker buildx imagetools inspect python:<version>-slim-bookworm   (the "Digest:" of the index)
FROM python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5

# PYDANTIC_DISABLE_PLUGINS: no entry-point scan at start (render-preview runs on every refresh).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYDANTIC_DISABLE_PLUGINS=__all__ \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY minnova_idp ./minnova_idp
RUN pip install --no-deps . \
 && pip install "pydantic>=2.7,<3" "pyyaml>=6.0,<7" "pyrage>=1.4,<2" "cryptography>=42,<51" \
 && rm -rf /src

# Argo CD runs plugin sidecars as user 999; /tmp is an emptyDir, the root filesystem read-only.
USER 999:999
WORKDIR /tmp
ENTRYPOINT ["minnova-idp"]
CMD ["--help"]
