"""The order Argo CD applies a preview in: its sync waves, and the hooks that run again on every sync."""

# A preview is applied by Argo CD in sync waves: each wave once the one before is healthy (argo-cd v3.4.4
# docs/user-guide/sync-waves.md, "How does it work"), a CNPG Cluster healthy when CNPG says so
# (resource_customizations/postgresql.cnpg.io/Cluster/health.lua, in Argo CD since v3.1), a Job healthy once
# complete (gitops-engine/pkg/health/health_job.go: Progressing until then). Everything is wave 0
# (the database with it), then the seed, then the release phase, then the app's processes.
SYNC_WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
HOOK_ANNOTATION = "argocd.argoproj.io/hook"
HOOK_DELETE_POLICY_ANNOTATION = "argocd.argoproj.io/hook-delete-policy"
SEED_SYNC_WAVE, RELEASE_SYNC_WAVE, PROCESS_SYNC_WAVE = 1, 2, 3

# What proves a commit's preview is running. A sync whose last wave holds only ordinary resources ends as
# Succeeded as soon as that wave is applied, "EVEN if those objects subsequently degrades" (argo-cd v3.4.4
# gitops-engine/pkg/sync/sync_context.go:688-697), while app.status.health may still be the previous commit's
# Healthy: "ready" could be sent before the new pods ran. A PostSync hook moves the end of the sync one phase
# later: the Sync phase's last wave is then not final, so the sync waits on each of its resources' live health
# (sync_context.go:525-558, 561-582; multiStep, pkg/sync/sync_tasks.go:274-276): Healthy lets it go on, Degraded
# fails the sync ("one or more synchronization tasks completed unsuccessfully", sync_context.go:619-624). Only
# then is the PostSync phase applied (pkg/sync/doc.go:36). This ConfigMap is that hook: it has no health of its
# own, so it is Succeeded once created (getOperationPhase, sync_context.go:351-372), and its result (hookType
# PostSync, hookPhase Succeeded) is in the operation's syncResult only once every resource of that revision was
# healthy. The "ready" trigger requires it (argocd.READY_HOOK_RAN). BeforeHookCreation: the next sync deletes it
# and makes it again (pkg/sync/doc.go:62-67).
READY_HOOK_NAME = "minnova-preview-ready"


def ready_hook(namespace: str, labels: dict[str, str], revision: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": READY_HOOK_NAME, "namespace": namespace, "labels": dict(labels),
                         "annotations": {HOOK_ANNOTATION: "PostSync",
                                         HOOK_DELETE_POLICY_ANNOTATION: "BeforeHookCreation"}},
            "data": {"revision": revision}}
