"""The Pod Security Standard "restricted" (what app namespaces enforce, render/app.py render_namespace), as a checker
of the pod and container security contexts an operator builds from our custom resources.

The rules are Kubernetes' (https://kubernetes.io/docs/concepts/security/pod-security-standards/#restricted, policy
version latest): privilege escalation off, every capability dropped (only NET_BIND_SERVICE may be added), non-root
(runAsNonRoot true on the pod or every container, never false on a container; runAsUser never 0), a seccomp profile
RuntimeDefault or Localhost (on the pod or every container), no privileged container. Each test rebuilds the
contexts from the operator's own source (cited there) and hands them here.
"""

from __future__ import annotations

from typing import Any

Context = dict[str, Any]


def restricted_problems(pod: Context | None, containers: dict[str, Context | None]) -> list[str]:
    """Every "restricted" rule the pod breaks, as `<container>: <rule>`; empty when it is admitted."""
    pod = pod or {}
    problems = []
    if pod.get("runAsUser") == 0:
        problems.append("pod: runAsUser 0")
    for name, context in containers.items():
        context = context or {}
        if context.get("privileged"):
            problems.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{name}: capabilities.drop lacks ALL")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: capabilities.add beyond NET_BIND_SERVICE")
        non_root = context.get("runAsNonRoot", pod.get("runAsNonRoot"))
        if non_root is not True:
            problems.append(f"{name}: runAsNonRoot is not true")
        if context.get("runAsUser", pod.get("runAsUser")) == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = (context.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: no seccompProfile RuntimeDefault or Localhost")
    return problems

