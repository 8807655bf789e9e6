"""App SQL cannot run programs: real psql runs a shell command from a file with `\\!` (what the restore check,
seed and mask containers would have run), and the loaders refuse every such file before anything renders.
Skips, saying why, where PostgreSQL is not installed (the fixture of test_seed_psql.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from minnova_idp.load.app_files import meta_command_problems, read_mask, read_restore_check, read_seed
from minnova_idp.model.app_config import AppConfig
from minnova_idp.model.errors import ConfigError
from minnova_idp.render.database_placement import DatabasePlacement
from minnova_idp.render.drill import drill_objects
from tests.render.test_seed_psql import database_url  # noqa: F401  (the fixture)

APP = AppConfig.model_validate({"name": "oracle", "image": {"repository": "r.io/o"}, "port": 80,
                                "database": {"enabled": True, "seed": {"files": ["seed/a.sql"]}},
                                "environments": {"dev": {"host": "o.acme.dev"}}})


def hostile(marker: Path) -> dict[str, str]:
    return {"shell escape": f"select 1;\n\\! touch {marker}\n",
            "output to a pipe": f"\\o | touch {marker}\nselect 1;\n",
            "query to a pipe": f"select 1 \\g | touch {marker}\n",
            "backquote in a meta-command": f"\\set x `touch {marker}`\n"}


def _check_command(tmp_path: Path) -> list[str]:
    """The drill check Job's psql command, as the drill renders it."""
    placement = DatabasePlacement(instances=1, size="1Gi", version=APP.database.version, resources=None,
                                  cluster="oracle-db")
    objects = drill_objects("p", APP, "dev", placement, "oracle-dev",
                            {"app.kubernetes.io/name": "oracle", "app.kubernetes.io/instance": "oracle-dev"},
                            "0 5 * * 0", None, ())
    (config_map,) = [o.manifest for o in objects if o.manifest["kind"] == "ConfigMap"]
    job = yaml.safe_load(config_map["data"]["check-job.yaml"])
    return job["spec"]["template"]["spec"]["containers"][0]["command"]


@pytest.mark.parametrize("case", ["shell escape", "output to a pipe", "query to a pipe",
                                  "backquote in a meta-command"])
def test_psql_runs_programs_from_a_file_and_the_loaders_refuse_it(database_url, tmp_path, case):  # noqa: F811
    base, psql = database_url
    marker = tmp_path / "ran"
    sql = hostile(marker)[case]
    script = tmp_path / "check.sql"
    script.write_text(sql)
    argv = [psql if arg == "psql" else f"{base}/postgres" if arg == "$(DATABASE_URL)"
            else arg.replace("/drill/", f"{tmp_path}/") for arg in _check_command(tmp_path)]
    subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert marker.exists(), "the old file ran a program in the psql container"
    # Now: refused at load time, naming the file and the line, for each kind of app SQL.
    app_dir = tmp_path / "repo"
    (app_dir / ".minnova/seed").mkdir(parents=True)
    for name in ("restore-check.sql", "seed/mask.sql", "seed/a.sql"):
        (app_dir / ".minnova" / name).write_text(sql)
    line = next(n for n, text in enumerate(sql.split("\n"), 1) if "\\" in text)
    loaded = SimpleNamespace(directory=app_dir, config=APP, shown=lambda relative: f"oracle: {relative}")
    for read, shown in ((lambda: read_restore_check(loaded), "oracle: .minnova/restore-check.sql"),
                        (lambda: read_mask(app_dir, "oracle: "), "oracle: .minnova/seed/mask.sql"),
                        (lambda: read_seed(APP, app_dir, "oracle: "), "oracle: .minnova/seed/a.sql")):
        with pytest.raises(ConfigError) as refused:
            read()
        (problem,) = refused.value.problems
        assert (problem.file, problem.line) == (shown, line)
        assert "psql meta-commands" in str(problem)


def test_plain_sql_passes_and_a_backslash_anywhere_is_named():
    assert meta_command_problems("update users set email = 'u' || id || '@example.invalid';\n"
                                 "select regexp_replace(name, '[.]', chr(92), 'g');\n", "f") == []
    # In a comment or a literal too: only psql's own lexer could tell those from a meta-command.
    problems = meta_command_problems("-- a \\ comment\nselect 1;\nselect E'\\n';\n", "f.sql")
    assert [p.line for p in problems] == [1, 3]
    assert str(problems[0]).startswith("f.sql:1: holds a backslash")
