"""Minnova IDP: self-service deployment on Kubernetes, as a Pulumi program.

The library half: config models, registry, app-config loading, the renderer
(pure functions, no Pulumi import), the offline plan and the CLI.
"""
