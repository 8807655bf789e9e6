

def test_the_env_and_storage_rows_name_every_variable_the_platform_sets():
    """docs/app-yaml.md's `env` row lists what the renderers set (so an app developer knows which names are taken),
    from the same lists the checks use; the `storage.enabled` row lists every storage variable."""
    from minnova_idp.authoring.reference import app_yaml_table
    from minnova_idp.model import names
    from minnova_idp.model.mysql import MYSQL_ENV_VARS

    rows = {line.split(" | ")[0].removeprefix("| "): line for line in app_yaml_table().splitlines()}
    for name in ("PORT", "DATABASE_URL", "REDIS_URL", *MYSQL_ENV_VARS, names.MONGODB_URL_ENV,
                 *names.STORAGE_ENV_VARS, "<CALLEE>_<PROCESS>_URL"):
        assert f"`{name}`" in rows["`env`"], name
    for name in names.STORAGE_ENV_VARS:
        assert f"`{name}`" in rows["`storage.enabled`"], name
