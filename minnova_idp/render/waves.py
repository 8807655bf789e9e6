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
