"""The Jobs that run SQL in an app's database with psql, as its owner role: seed files into a new database, and a
preview copy's mask followed by the platform's statistics epilogue (ADR 0005). No app SQL holds a backslash
(minnova_idp/load/app_files.py), so psql runs no meta-command of the app's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from minnova_idp.model.app_config import AppConfig

if TYPE_CHECKING:  # a type only: database.py imports this module
    from minnova_idp.render.database_placement import DatabasePlacement
from minnova_idp.model import names, versions
from minnova_idp.render.waves import (
    HOOK_ANNOTATION,
    HOOK_DELETE_POLICY_ANNOTATION,
    SEED_SYNC_WAVE,
    SYNC_WAVE_ANNOTATION,
)

Manifest = dict[str, Any]

# The script the seed Job runs (a key no seed file can have: those end in .sql). It seeds only a database that
# holds no tables yet, so a seed added to an environment whose database exists, or a Job recreated because its
# files changed, never runs twice: psql `\gset` and `\if` (PostgreSQL 10+; `t` is a unique prefix of `true`),
# `\ir` relative to this file's directory. File names are `seed/[A-Za-z0-9][A-Za-z0-9._-]*.sql` (app_config.py).
SEED_SCRIPT_KEY = "minnova-seed.psql"


_SEED_EMPTY_CHECK = (
    "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname NOT LIKE 'pg\\_%') AS minnova_seed_empty \\gset")


def seed_script(files: tuple[str, ...]) -> str:
    return "\n".join(["-- minnova-idp: the seed files, in order, into a database without tables of its own.",
                      _SEED_EMPTY_CHECK, "\\if :minnova_seed_empty", *(f"\\ir {name}" for name in files),
                      "\\else", "\\echo 'minnova-idp: the database already holds tables; not seeded'", "\\endif",
                      ""])


def render_seed(database: DatabasePlacement, namespace: str, labels: dict[str, str]) -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": names.seed(database.cluster), "namespace": namespace, "labels": labels},
            "data": {**dict(database.seed), SEED_SCRIPT_KEY: seed_script(tuple(key for key, _ in database.seed))}}


def render_seed_job(app: AppConfig, database: DatabasePlacement, namespace: str, labels: dict[str, str],
                    preview: bool) -> Manifest:
    """The seed files, run once per database with the app's own credentials (`<cluster>-app`: the database owner,
    not a superuser). Not CNPG's initdb postInit SQL, which runs as the superuser `postgres` (cloudnative-pg v1.30.0
    docs/src/bootstrap.md:362 and :382): a superuser can run programs in
    the database's pod (`COPY ... FROM PROGRAM`), whose egress is not the app's and whose service account talks to
    the Kubernetes API; a seed is the app's (or a pull request's) own SQL. The Job's spec does not depend on the
    files (the ConfigMap does), and its script seeds only a database without tables."""
    return _sql_job(app, database, namespace, labels, preview, "seed", names.seed(database.cluster), SEED_SCRIPT_KEY)


MASK_KEY = "mask.sql"


MASK_SCRIPT_KEY = "minnova-mask.psql"  # what the Job runs: the app's mask, then the statistics epilogue


# After the app's mask, in the same transaction: the copy's planner statistics still hold dev's values (most common
# values, histogram bounds in pg_stats; extended statistics in pg_stats_ext and pg_stats_ext_exprs; all readable by
# the owner) until they are recomputed from the masked rows. Autovacuum never analyses a partitioned parent; ANALYZE
# of a table left empty keeps its old statistics (PostgreSQL updates pg_statistic only from a non-empty sample), and
# so does a plain-inheritance parent emptied of its own rows for its own (inherited = f) statistics; ANALYZE skips a
# column or an extended statistics object whose statistics target dev set to 0, keeping what it had. All reproduced
# in tests/render/test_seed_psql.py. So, as the owner: reset every statistics target on the owner's tables, indexes
# and extended statistics to the default (-1); ANALYZE every table the owner has (partitioned parents included);
# for a column that still has statistics in an empty table (its own rows: ONLY, unless the statistics are the
# inherited ones), rewrite it to its own type, which drops them (ALTER COLUMN TYPE); recreate an extended statistics
# object that still has data on an empty table (dropping it drops its data); and fail (the whole mask rolls back, the
# app never starts) when that is impossible, or any statistics of dev might remain: on an empty table, of a table or
# statistics object that is not the owner's, or with a target left at 0.
MASK_EPILOGUE = r"""
DO $minnova$
DECLARE
  rel regclass;
  col record;
  is_empty boolean;
  rewrote boolean := false;
  analyze_all text := $q$SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'm') AND pg_has_role(c.relowner, 'USAGE')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%'$q$;
  stats text := $q$SELECT DISTINCT s.schemaname, s.tablename, s.attname, s.inherited, c.relkind, c.relowner,
      COALESCE(i.indrelid, c.oid)::regclass AS tbl,
      CASE WHEN c.relispartition THEN pg_partition_root(c.oid) ELSE c.oid END::regclass AS root,
      format_type(a.atttypid, a.atttypmod) AS type, a.attcollation, co.collname, cn.nspname AS collschema
    FROM pg_stats s
    JOIN pg_namespace n ON n.nspname = s.schemaname
    JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.tablename
    LEFT JOIN pg_index i ON i.indexrelid = c.oid
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = s.attname
    LEFT JOIN pg_collation co ON co.oid = a.attcollation
    LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
    WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema')$q$;
  -- the extended statistics objects with data (pg_stats_ext: one row per object and inherited flag; its
  -- expressions' statistics in pg_stats_ext_exprs belong to the same data), with their table
  ext text := $q$SELECT DISTINCT x.oid, x.stxowner, x.stxrelid::regclass AS tbl, c.relowner, e.inherited,
      format('%I.%I', e.statistics_schemaname, e.statistics_name) AS name, pg_get_statisticsobjdef(x.oid) AS def
    FROM (SELECT statistics_schemaname, statistics_name, inherited FROM pg_stats_ext
          UNION SELECT statistics_schemaname, statistics_name, inherited FROM pg_stats_ext_exprs
          WHERE inherited IS NOT NULL) e  -- an object without data still has a row of nulls there
    JOIN pg_namespace xn ON xn.nspname = e.statistics_schemaname
    JOIN pg_statistic_ext x ON x.stxnamespace = xn.oid AND x.stxname = e.statistics_name
    JOIN pg_class c ON c.oid = x.stxrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')$q$;
BEGIN
  -- a target dev set to 0 makes ANALYZE skip the column or object and keep dev's statistics: back to the default
  FOR col IN SELECT a.attrelid::regclass AS tbl, a.attname, a.attnum, c.relkind, c.relowner FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attstattarget >= 0
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' LOOP
    IF NOT pg_has_role(col.relowner, 'USAGE') THEN
      RAISE EXCEPTION 'minnova mask: % is not the database owner''s and its column % has a statistics target: '
        'its statistics may keep the copied values', col.tbl, col.attname;
    ELSIF col.relkind = 'i' THEN
      EXECUTE format('ALTER INDEX %s ALTER COLUMN %s SET STATISTICS -1', col.tbl, col.attnum);
    ELSE
      EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET STATISTICS -1', col.tbl, col.attname);
    END IF;
  END LOOP;
  FOR col IN SELECT x.stxowner, format('%I.%I', xn.nspname, x.stxname) AS name FROM pg_statistic_ext x
      JOIN pg_namespace xn ON xn.oid = x.stxnamespace WHERE x.stxstattarget >= 0 LOOP
    IF NOT pg_has_role(col.stxowner, 'USAGE') THEN
      RAISE EXCEPTION 'minnova mask: the statistics object % is not the database owner''s and has a statistics '
        'target: it may keep the copied values', col.name;
    END IF;
    EXECUTE format('ALTER STATISTICS %s SET STATISTICS -1', col.name);
  END LOOP;
  -- an expression index keeps dev's statistics when ANALYZE samples no row in it (a partial index): made again,
  -- it starts with none, and ANALYZE fills it from masked rows only
  FOR col IN SELECT i.indexrelid::regclass AS idx, pg_get_indexdef(i.indexrelid) AS def, c.relowner
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE i.indexprs IS NOT NULL AND n.nspname NOT IN ('pg_catalog', 'information_schema') LOOP
    IF NOT pg_has_role(col.relowner, 'USAGE') OR EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = col.idx) THEN
      RAISE EXCEPTION 'minnova mask: the expression index % cannot be made again (not the database owner''s, or a '
        'constraint''s): its statistics may keep the copied values', col.idx;
    END IF;
    EXECUTE format('DROP INDEX %s', col.idx);
    EXECUTE col.def;
  END LOOP;
  FOR rel IN EXECUTE analyze_all LOOP EXECUTE format('ANALYZE %s', rel); END LOOP;
  FOR col IN EXECUTE stats LOOP
    IF NOT pg_has_role(col.relowner, 'USAGE') THEN
      RAISE EXCEPTION 'minnova mask: %.% is not the database owner''s: its statistics keep the copied values',
        col.schemaname, col.tablename;
    END IF;
    -- its own rows (ONLY: a plain-inheritance parent's children do not count), unless these are the statistics
    -- of the parent with its children (inherited)
    EXECUTE format('SELECT NOT EXISTS (SELECT FROM %s %s)', CASE WHEN col.inherited THEN '' ELSE 'ONLY' END,
                   col.tbl) INTO is_empty;
    -- statistics of a parent with its children, when it has none left (the mask dropped them): ANALYZE skips that
    -- pass and keeps them, so they are dev's
    is_empty := is_empty OR (col.inherited AND NOT EXISTS (SELECT FROM pg_inherits WHERE inhparent = col.tbl));
    CONTINUE WHEN NOT is_empty OR col.relkind = 'i';
    BEGIN  -- a rewrite to its own type drops the column's statistics (and rebuilds the indexes on it)
      EXECUTE format('ALTER TABLE %s ALTER COLUMN %I TYPE %s%s', col.root, col.attname, col.type,
                     CASE WHEN col.attcollation <> 0
                          THEN format(' COLLATE %I.%I', col.collschema, col.collname) ELSE '' END);
      rewrote := true;
    EXCEPTION WHEN OTHERS THEN
      RAISE EXCEPTION 'minnova mask: %.% is empty after the mask but its statistics keep the copied values of %, '
        'which cannot be cleared (%); leave masked rows in it, or in the mask drop it (a partition) or what depends on the column',
        col.schemaname, col.tablename, col.attname, SQLERRM;
    END;
  END LOOP;
  FOR col IN EXECUTE ext LOOP  -- an extended statistics object of an empty table: dropped with its data, recreated
    EXECUTE format('SELECT NOT EXISTS (SELECT FROM %s %s)', CASE WHEN col.inherited THEN '' ELSE 'ONLY' END,
                   col.tbl) INTO is_empty;
    CONTINUE WHEN NOT is_empty;
    IF NOT pg_has_role(col.stxowner, 'USAGE') THEN
      RAISE EXCEPTION 'minnova mask: % is empty after the mask but the statistics object % (not the database '
        'owner''s) keeps the copied values', col.tbl, col.name;
    END IF;
    EXECUTE format('DROP STATISTICS %s', col.name);
    EXECUTE col.def;
    rewrote := true;
  END LOOP;
  IF rewrote THEN  -- the rewritten tables' other columns (and partitions) lost theirs too: recompute them
    FOR rel IN EXECUTE analyze_all LOOP EXECUTE format('ANALYZE %s', rel); END LOOP;
  END IF;
  FOR col IN EXECUTE stats LOOP  -- what is left must come from masked rows: none of an empty table
    EXECUTE format('SELECT NOT EXISTS (SELECT FROM %s %s)', CASE WHEN col.inherited THEN '' ELSE 'ONLY' END,
                   col.tbl) INTO is_empty;
    is_empty := is_empty OR (col.inherited AND NOT EXISTS (SELECT FROM pg_inherits WHERE inhparent = col.tbl));
    IF is_empty THEN
      RAISE EXCEPTION 'minnova mask: %.% (%) is empty after the mask but its statistics keep the copied values',
        col.schemaname, col.tablename, col.attname;
    END IF;
  END LOOP;
  FOR col IN EXECUTE ext LOOP  -- the same for extended statistics (pg_stats_ext, pg_stats_ext_exprs)
    EXECUTE format('SELECT NOT EXISTS (SELECT FROM %s %s)', CASE WHEN col.inherited THEN '' ELSE 'ONLY' END,
                   col.tbl) INTO is_empty;
    IF is_empty OR NOT pg_has_role(col.relowner, 'USAGE') THEN
      RAISE EXCEPTION 'minnova mask: the statistics object % of % may keep the copied values (its table is empty '
        'after the mask or not the database owner''s)', col.name, col.tbl;
    END IF;
  END LOOP;
  IF EXISTS (SELECT FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attstattarget >= 0
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%')
     OR EXISTS (SELECT FROM pg_statistic_ext WHERE stxstattarget >= 0) THEN
    RAISE EXCEPTION 'minnova mask: a statistics target is still set after the reset: ANALYZE may have kept copied values';
  END IF;
END
$minnova$;
"""


def mask_script() -> str:
    """The mask Job's script: the app's mask (`\\ir`: relative to this file), then MASK_EPILOGUE."""
    return f"\\ir {MASK_KEY}\n{MASK_EPILOGUE.lstrip()}"


def render_mask(database: DatabasePlacement, namespace: str, labels: dict[str, str]) -> Manifest:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": names.mask(database.cluster), "namespace": namespace, "labels": labels},
            "data": {MASK_KEY: database.origin.mask, MASK_SCRIPT_KEY: mask_script()}}


def render_mask_job(app: AppConfig, database: DatabasePlacement, namespace: str, labels: dict[str, str],
                    preview: bool) -> Manifest:
    """The app's masking SQL (from its registered branch, origin.py) over a preview's copy of another environment,
    in one transaction, as the database owner (not a superuser, as the seed). It runs once, when Argo CD first applies it: the
    Job is not recreated for later commits. In the seed's sync wave, so the release phase and the app's processes
    (later waves) start only once it succeeded; a failing mask stops the sync there and the app never starts."""
    return _sql_job(app, database, namespace, labels, preview, "mask", names.mask(database.cluster), MASK_SCRIPT_KEY)


def _sql_job(app: AppConfig, database: DatabasePlacement, namespace: str, labels: dict[str, str], preview: bool,
             role: str, name: str, script: str) -> Manifest:
    """A Job running `script` from the ConfigMap `name` with psql as the database owner; `role` (seed, mask) names
    its container, volume and pod instance."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if preview:
        # Argo CD applies it once the database is healthy (wave 0), and the release phase and processes after it.
        # A Sync hook deleted before each sync creates it again (argo-cd@v3.4.4 gitops-engine/pkg/sync/doc.go:38-41,
        # 62-67; common/types.go:137): a new commit gets a fresh run, a failed run fails that sync (and is reported)
        # without leaving a Failed Job that stops every later sync at this wave, and a field the pull request sets
        # (runAsUser, the psql version) never meets the immutable pod template of an old Job. The seed checks the
        # database is empty and the mask is applied to a copy made for it, so running again changes nothing.
        metadata["annotations"] = {SYNC_WAVE_ANNOTATION: str(SEED_SYNC_WAVE), HOOK_ANNOTATION: "Sync",
                                   HOOK_DELETE_POLICY_ANNOTATION: "BeforeHookCreation"}
    # Its own instance label (`seed` is a reserved process name): the app's Service and PDB select
    # name + instance, and must not pick up this pod; the app's egress policy (name only) still applies.
    pod_labels = {**labels, "app.kubernetes.io/instance": f"{labels['app.kubernetes.io/instance']}-{role}"}
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": metadata,
        "spec": {
            # Under Pulumi the database may still be starting: retried with backoff for up to 30 minutes. A preview
            # runs it after its database is healthy (wave 1): a failure there is the SQL's, and the sync (and the
            # pull request's next commit) waits for this Job, so it is reported within minutes.
            "backoffLimit": 2 if preview else 10,
            "activeDeadlineSeconds": 600 if preview else 1800,
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    **token_less_job_pod(app.run_as_user),
                    "volumes": [{"name": role, "configMap": {"name": name}},
                                {"name": "tmp", "emptyDir": {}}],
                    "containers": [psql_container(
                        role, database.version, database.cluster, role, script,
                        {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                        "--single-transaction")],
                },
            },
        },
    }


def token_less_job_pod(uid: int) -> dict[str, Any]:
    """The start of a platform Job's pod spec (seed, mask, the drill's check, a preview's storage cleanup): runs once,
    no service-account token, no Service environment variables, as `uid`, never root."""
    return {"restartPolicy": "Never", "automountServiceAccountToken": False, "enableServiceLinks": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid,
                                "seccompProfile": {"type": "RuntimeDefault"}}}


def hardened_container_security() -> dict[str, Any]:
    """A platform container's securityContext (the psql and kubectl ones): nothing to escalate, nothing to write."""
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}


def psql_container(name: str, version: int, cluster: str, volume: str, script: str, resources: dict[str, Any],
                   *options: str) -> dict[str, Any]:
    """A hardened container that runs `script` (a key of the ConfigMap volume `volume`, mounted at /<volume>) with
    psql as `cluster`'s owner (its `-app` Secret), stopping at the first error. Its image is the database's own
    PostgreSQL image: psql of the same major version. The pod needs the volume `volume` and an emptyDir `tmp`."""
    return {
        "name": name,
        "image": versions.POSTGRES_IMAGES[version],
        "command": ["psql", "$(DATABASE_URL)", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", *options,
                    "-f", f"/{volume}/{script}"],
        "env": [{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": names.cluster_app_secret(cluster),
                                                                        "key": "uri"}}},
                {"name": "HOME", "value": "/tmp"}],
        "securityContext": hardened_container_security(),
        "volumeMounts": [{"name": volume, "mountPath": f"/{volume}", "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
        "resources": resources,
    }
