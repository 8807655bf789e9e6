"""`validate` in an app repository refuses what `plan` refuses of that app (issue 24 item 2).

Each row breaks one app of a copy of the example project; the problems the stack's loading (`load_inputs`, what
`plan` and `pulumi up` run) reports of that app must each be reported by `validate` of the app's directory, with
the policy `policy publish` wrote there from the unbroken project. `test_every_check_plan_makes_has_a_row` fails
when a check is added to the loading path without a row here (or a reason it concerns the stack, not one app).
"""

from __future__ import annotations

import ast
import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import yaml

from minnova_idp.cli.main import main
from minnova_idp.load.app_policy import WITHHELD, policy_document, policy_file, policy_text
from tests.conftest import PROJECT_DIR, project_copy, stack_problems

ORACLE = "examples/oracle/.minnova"
STOREFRONT = "examples/storefront/.minnova"


def _edit_yaml(path: Path, change) -> None:
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _oracle(change):
    return lambda project: _edit_yaml(project / ORACLE / "app.yaml", change)


def _storefront(change):
    return lambda project: _edit_yaml(project / STOREFRONT / "app.yaml", change)


def _write(relative: str, text: str):
    def write(project: Path) -> None:
        path = project / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return write


def _both(*changes):
    def apply(project: Path) -> None:
        for change in changes:
            change(project)
    return apply


def _dev_host(host):
    def change(document):
        document["environments"]["dev"]["host"] = host
    return change


def _dev_alias(host, redirect=True):
    def change(document):
        document["environments"]["dev"]["aliases"] = [{"host": host, "redirect": redirect}]
    return change


def _one_value(name: str) -> str:
    from minnova_idp.sops import document as sops

    dev = "age1csv2kfnxp7njj49srdkfetemcx8sjhxgwp5vxllgdg8z29tray2shxn9hy"  # oracle/dev (Pulumi.dev.yaml)
    return sops.encrypt_yaml({"stringData": {name: "587"}}, [dev])


# (id, stack, app directory, break it, what plan says: a fragment of one of its problems)
ROWS = [
    ("seed-file-missing", "dev", ORACLE,
     _oracle(lambda d: d["database"].update(seed={"files": ["seed/missing.sql"], "environments": ["dev"]})),
     "seed/missing.sql"),
    ("mysql-seed-file-missing", "dev", ORACLE,
     _oracle(lambda d: d.update(mysql={"enabled": True, "seed": {"files": ["seed/missing-mysql.sql"],
                                                                 "environments": ["dev"]}})),
     "seed/missing-mysql.sql"),
    ("host-outside-zone", "dev", ORACLE, _oracle(_dev_host("oracle.dev.example.com")),
     "is outside this stack's zone minnova.io"),
    ("host-not-allowed", "dev", ORACLE, _oracle(_dev_host("billing.dev.minnova.io")),
     "is not a host app 'oracle' may use"),
    ("host-reserved", "dev", ORACLE, _oracle(_dev_host("argocd-webhooks.dev.minnova.io")),
     "the Argo CD webhook host"),
    ("host-of-another-app", "dev", STOREFRONT, _storefront(_dev_host("oracle.dev.minnova.io")),
     "is already the host of app 'oracle'"),
    # An alias is a host like `host` (issue 26): the same checks, the same answer from plan and validate.
    ("alias-outside-zone", "dev", ORACLE, _oracle(_dev_alias("www.oracle.example.com")),
     "environments.dev.aliases[0].host: 'www.oracle.example.com' is outside this stack's zone minnova.io"),
    ("alias-not-allowed", "dev", ORACLE, _oracle(_dev_alias("billing.dev.minnova.io")),
     "environments.dev.aliases[0].host: 'billing.dev.minnova.io' is not a host app 'oracle' may use"),
    ("alias-reserved", "dev", ORACLE, _oracle(_dev_alias("argocd-webhooks.dev.minnova.io")),
     "the Argo CD webhook host"),
    ("alias-of-another-app", "dev", STOREFRONT, _storefront(_dev_alias("oracle.dev.minnova.io")),
     "environments.dev.aliases[0].host: 'oracle.dev.minnova.io' is already the host of app 'oracle'"),
    ("preview-copies-prod", "dev", ORACLE,
     _both(_oracle(lambda d: d.update(preview={"database": {"from": "prod"}})),
           _write(f"{ORACLE}/seed/mask.sql", "UPDATE users SET email = id || '@example.com';\n")),
     "'prod' is a protected environment"),
    ("preview-copies-undeployed", "prod", ORACLE,
     _both(_oracle(lambda d: d.update(preview={"database": {"from": "dev"}})),
           _write(f"{ORACLE}/seed/mask.sql", "UPDATE users SET email = id || '@example.com';\n")),
     None),  # the prod stack runs no previews: nothing to refuse, in both
    ("mask-missing", "dev", ORACLE, _oracle(lambda d: d.update(preview={"database": {"from": "dev"}})),
     "mask.sql"),
    ("image-not-the-apps", "dev", ORACLE, _oracle(lambda d: d["image"].update(repository="registry.minnova.io/x")),
     "is not an image app 'oracle' may run"),
    ("over-quota", "dev", ORACLE,
     _oracle(lambda d: d["environments"]["dev"].update(resources={"requests": {"cpu": "20"}})),
     "more than the 16 its quota allows"),
    ("restore-check-backslash", "dev", ORACLE, _write(f"{ORACLE}/restore-check.sql", "\\! id\n"),
     "holds a backslash"),
    ("misnamed-secrets-file", "dev", ORACLE, _write(f"{ORACLE}/secrets/dve.enc.yaml", "stringData: {A: b}\n"),
     "did you mean dev.enc.yaml?"),
    ("secrets-without-a-key", "prod", STOREFRONT,
     lambda project: (project / STOREFRONT / "secrets").mkdir() or
     (project / STOREFRONT / "secrets/prod.enc.yaml").write_bytes((project / ORACLE / "secrets/prod.enc.yaml")
                                                                  .read_bytes()),
     "there is no age key for storefront/prod"),
    ("secrets-for-another-key", "dev", ORACLE,
     lambda project: (project / ORACLE / "secrets/dev.enc.yaml").write_bytes((project / ORACLE /
                                                                              "secrets/prod.enc.yaml").read_bytes()),
     "not for oracle/dev's key"),
    ("overlay-set-and-unset", "dev", ORACLE,
     _both(_write(f"{ORACLE}/secrets/dev.d/SMTP_PORT.unset", "unset: SMTP_PORT\n"),
           lambda project: (project / ORACLE / "secrets/dev.d/SMTP_PORT.enc.yaml").write_text(
               _one_value("SMTP_PORT"))),
     "SMTP_PORT is both set"),
    ("overlay-holds-another-name", "dev", ORACLE,
     lambda project: (project / ORACLE / "secrets/dev.d").mkdir() or
     (project / ORACLE / "secrets/dev.d/SMTP_PORT.enc.yaml").write_text(_one_value("OTHER")),
     "must hold exactly one value, SMTP_PORT"),
    ("renamed", "dev", ORACLE, _oracle(lambda d: d.update(name="oracle2")), "does not match the registry entry"),
    ("redis-without-password-key", "dev", ORACLE, None, None),  # stack-wide: the passwordKey is set in dev
    ("bad-cron", "dev", ORACLE, _oracle(lambda d: d["cron"]["cleanup"].update(schedule="61 * * * *")), "61"),
    ("bad-env-name", "dev", ORACLE, _oracle(lambda d: d["env"].update({"1BAD": "x"})), "1BAD"),
    # the registry lets storefront call oracle's internal services: removing the port leaves it none
    ("allow-from-without-port", "dev", ORACLE, _oracle(lambda d: [d["processes"]["api"].pop(key) for key in ("port", "healthCheck")]),
     "no process has a `port`"),
]
ROWS = [row for row in ROWS if row[3] is not None]


def _stack_without_mongodb(project: Path) -> None:
    """The dev stack stops offering MongoDB (its own app, catalog, gives MongoDB up first), oracle's policy is
    published from it, and oracle asks for MongoDB."""
    stack = project / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text().replace("  minnova:mongodb:\n    enabled: true\n", ""))
    catalog = project / "examples/catalog/.minnova/app.yaml"
    _edit_yaml(catalog, lambda d: (d["mongodb"].update(enabled=False), d["environments"]["prod"].pop("mongodb")))
    _publish(project, "dev", project / ORACLE.removesuffix("/.minnova"), "oracle")
    _edit_yaml(project / ORACLE / "app.yaml", lambda d: d.update(mongodb={"enabled": True}))


ROWS.append(("mongodb-not-offered", "dev", ORACLE, _stack_without_mongodb,
             "mongodb.enabled: this stack does not offer MongoDB (Pulumi.dev.yaml: minnova:mongodb.enabled is not"))


def _publish(project: Path, stack: str, app_dir: Path, app: str) -> None:
    from tests.conftest import load_stack_inputs

    apps = load_stack_inputs(project, stack).apps
    path = app_dir / policy_file(stack)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(policy_text(policy_document(project, stack, app, apps)))


def _validate(target: Path, *extra: str) -> tuple[int, dict]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["validate", str(target), "--json", *extra])
    return code, json.loads(out.getvalue())


def _shown(problem: dict) -> str:
    """A problem of validate's --json as plan's text shows it (file:line: field: message)."""
    where = problem["file"] + (f":{problem['line']}" if problem.get("line") else "")
    return ": ".join(part for part in (where, problem.get("field"), problem["message"]) if part)


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_validate_reports_each_problem_plan_reports_of_the_app(tmp_path, row):
    _, stack, app_dir, breaking, expected = row
    project = project_copy(tmp_path)
    app = yaml.safe_load((project / app_dir / "app.yaml").read_text())["name"]
    _publish(project, stack, project / app_dir.removesuffix("/.minnova"), app)
    breaking(project)
    if expected is None:
        plan: list[str] = []
        from tests.conftest import load_stack_inputs
        load_stack_inputs(project, stack)  # plan accepts it
    else:
        plan = stack_problems(project, stack)
        assert any(expected in problem for problem in plan), plan  # the row breaks what it says
    code, result = _validate(project / app_dir.removesuffix("/.minnova"))
    shown = [_shown(problem).replace(f"{project}/", "") for problem in result.get("problems", [])]
    app_root = app_dir.removesuffix(".minnova")
    ours = [problem.split(" (hint:")[0] for problem in plan
            if problem.startswith(app_root) or f"/{app}.yaml" in problem or problem.startswith("Pulumi.")]
    assert ours or expected is None, plan
    for problem in ours:
        assert any(problem in line for line in shown), (problem, shown)
    assert code == (1 if ours else 0), result


# What the loading path calls that checks an app: the row that proves validate reports it, or why it is not a
# check of one app (it counts or configures the stack; validate runs it too, through the same load_inputs).
CHECKS = {
    "allow_from_target_problems": "allow-from-without-port",
    "url_name_problems": "not a check of one app's config: two callees' process names meet in a caller's "
                         "variables (policy/internal_names.py); it names a registry entry, and the stack's isolation "
                         "finds the app whose new config added it",
    "backup_problems": "stack-wide: Cloudflare settings and the count of account tokens across apps",
    "dns_problems": "host-outside-zone",
    "preview_problems": "stack-wide: the stack's preview settings and the registry entries' repos (platform files)",
    "quota_problems": "over-quota",
    "password_key_problems": "stack-wide: the stack's minnova:passwordKey",
    "origin_problems": "preview-copies-prod",
    "image_problems": "image-not-the-apps",
    "offered_problems": "mongodb-not-offered",
    "loaded_app_secrets_problems": "misnamed-secrets-file",
    "load_secret_values": "secrets-for-another-key",
    "read_secrets_file": "secrets-without-a-key",
    "read_overlays": "overlay-set-and-unset",
    "merged_secret_values": "overlay-holds-another-name",
    "read_restore_check": "restore-check-backslash",
    "read_seed": "seed-file-missing",
    "read_mysql_seed": "mysql-seed-file-missing",
    "read_mask": "mask-missing",
    "key_problems": "stack-wide: the stack's own keys and recipients",
    "parse_stack_config": "stack-wide: the stack file",
    "load_apps": "loading: entry-and-config rows (renamed, bad-cron, bad-env-name, host-of-another-app)",
    "read_registry": "stack-wide: the registry directory (platform files)",
    "fetch_sources": "loading: the platform fetches; validate reads the checkout",
    "_load_one": "renamed",
    "_cross_app_problems": "host-of-another-app",
    "validate_document": "bad-cron",
    "load_yaml_file": "bad-env-name",
    "entry_problems": "renamed",
    "git_timeout": "loading: the platform's git settings",
    "git_auth": "loading: the platform's git settings",
    "default_cache_dir": "loading: the platform's git cache",
    "preview_origins": "mask-missing",
    "raise_if_any": "not a check",
    "host_claim_problems": "host-of-another-app",
    "host_claims": "host-of-another-app",
    "load_candidates": "loading: entry-and-config rows, each app on its own (ADR 0012)",
    "_load_from": "renamed",
    "load_kept": "loading: an app's last good config from the stack's outputs (ADR 0012), not in an app repo",
    "record_of": "not a check: the record of the last good config (ADR 0012)",
    "guard_problems": "loading: data guards against the stack's outputs, which an app repository does not hold",
}


def test_validate_refuses_a_redirect_where_the_stack_is_not_traefik_as_plan_does(tmp_path):
    """ADR 0015: `redirect: true` needs Traefik (policy/hosts.py redirect_problems): validate, from the policy the
    platform published for a stack whose ingressClass is not traefik, says what plan says."""
    project = project_copy(tmp_path)
    stack_file = project / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("minnova:ingressClass: traefik",
                                                         "minnova:ingressClass: nginx"))
    _publish(project, "dev", project / ORACLE.removesuffix("/.minnova"), "oracle")
    _oracle(_dev_alias("www.oracle.minnova.io"))(project)
    plan = [p.split(" (hint:")[0] for p in stack_problems(project, "dev")]
    expected = (f"{ORACLE}/app.yaml: environments.dev.aliases[0].redirect: 'www.oracle.minnova.io' redirects, which "
                "needs Traefik, but the stack file Pulumi.dev.yaml sets minnova:ingressClass: nginx")
    assert any(p.startswith(expected) for p in plan), plan
    code, result = _validate(project / ORACLE.removesuffix("/.minnova"))
    shown = [_shown(problem).replace(f"{project}/", "") for problem in result.get("problems", [])]
    assert code == 1 and any(line.startswith(expected) for line in shown), shown
    _oracle(_dev_alias("www.oracle.minnova.io", redirect=False))(project)
    assert _validate(project / ORACLE.removesuffix("/.minnova"))[0] == 0


def _calls(path: Path, functions: set[str]) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in functions:
            for call in ast.walk(node):
                if isinstance(call, ast.Call):
                    name = call.func.id if isinstance(call.func, ast.Name) else None
                    if name and (name.endswith("_problems") or name.startswith(("read_", "load_", "_load", "_cross"))
                                 or name in CHECKS):
                        found.add(name)
    return found


def test_every_check_plan_makes_has_a_row():
    # load_inputs checks in _checked, and isolates an app's failure in _isolated (ADR 0012)
    called = (_calls(PROJECT_DIR / "minnova_idp/load/inputs.py", {"load_inputs", "_isolated", "_checked"})
              | _calls(PROJECT_DIR / "minnova_idp/load/apps.py", {"load_apps", "load_candidates", "_load_one",
                                                                   "_load_from", "_cross_app_problems"}))
    missing = sorted(called - set(CHECKS))
    assert not missing, f"plan's loading calls {missing}: add a row to ROWS proving validate reports it, or say why " \
                        "it is not a check of one app"
    ids = {row[0] for row in ROWS}
    for name, why in CHECKS.items():
        assert why.startswith(("stack-wide:", "loading:", "not a check")) or why in ids, (name, why)


def test_the_published_policy_holds_no_secret_and_no_other_app_s_settings(tmp_path):
    project = project_copy(tmp_path)
    stack = project / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text().replace("  minnova:secretsRecipients:\n",
                                               "  minnova:gitToken:\n    secure: v1:SECRETCIPHERTEXT\n"
                                               "  minnova:secretsRecipients:\n"))
    from tests.conftest import load_stack_inputs

    document = policy_document(project, "dev", "storefront", load_stack_inputs(project, "dev").apps)
    text = policy_text(document)
    assert "SECRETCIPHERTEXT" not in text and "EXAMPLE-PLACEHOLDER" not in text
    assert document["config"]["minnova:gitToken"] == {"secure": WITHHELD}
    assert "oracle" not in json.dumps(document["config"])  # oracle's recipients and keys are oracle's
    assert {"host": "oracle.dev.minnova.io", "app": "oracle", "environment": "dev"} in document["otherHosts"]


def test_without_a_policy_validate_says_what_it_skipped_and_still_reads_the_files(tmp_path):
    project = project_copy(tmp_path)
    _oracle(lambda d: d["database"].update(seed={"files": ["seed/missing.sql"], "environments": ["dev"]}))(project)
    code, result = _validate(project / "examples/oracle")
    assert code == 1 and any("seed/missing.sql" in p["message"] or "seed/missing.sql" in p["file"]
                             for p in result["problems"]), result
    (project / ORACLE / "app.yaml").write_text((PROJECT_DIR / ORACLE / "app.yaml").read_text())
    code, result = _validate(project / "examples/oracle")
    assert code == 0 and result["stacks"] == [] and "no platform policy" in result["skipped"][0]


def test_validate_from_an_infra_checkout_and_an_unknown_stack(tmp_path):
    project = project_copy(tmp_path)
    _oracle(_dev_host("billing.dev.minnova.io"))(project)
    code, result = _validate(project / "examples/oracle", "--project-dir", str(project))
    assert code == 1 and any("is not a host app 'oracle' may use" in p["message"] for p in result["problems"])
    code, result = _validate(project / "examples/oracle", "--project-dir", str(project), "-s", "nosuch")
    assert code == 1 and "unknown stack 'nosuch'" in result["problems"][0]["message"]


def test_policy_publish_writes_what_validate_reads(tmp_path, monkeypatch):
    project = project_copy(tmp_path)
    monkeypatch.chdir(project)
    out_file = project / STOREFRONT / "platform/prod.yaml"  # platform/ is made on first publish
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["policy", "publish", "storefront", "-s", "prod", "--out", str(out_file)])
    assert code == 0, err.getvalue()
    published = yaml.safe_load(out_file.read_text())
    assert published["app"] == "storefront" and published["entry"]["hosts"] == ["shop.minnova.io",
                                                                                "shop.dev.minnova.io",
                                                                                "store.minnova.io"]
    code, result = _validate(project / "examples/storefront")
    assert code == 0 and result["stacks"] == ["prod"], result
    _storefront(lambda d: d["environments"]["prod"].update(host="oracle.minnova.io"))(project)
    code, result = _validate(project / "examples/storefront", "-s", "prod")
    messages = [p["message"] for p in result["problems"]]
    assert code == 1 and any("is already the host of app 'oracle' (prod)" in m for m in messages), messages
    with redirect_stdout(io.StringIO()), redirect_stderr(err := io.StringIO()):
        assert main(["policy", "publish", "nosuch", "-s", "prod"]) == 1
    assert "app 'nosuch' is not registered in stack prod" in err.getvalue()


def _forge(provider: str):
    """Pulumi.dev.yaml moved to a self-hosted forge: each app has its own git credential and status token."""
    def change(project: Path) -> None:
        stack = project / "Pulumi.dev.yaml"
        text = stack.read_text().replace('    provider: github\n    githubAppId: "123456"\n'
                                         '    githubAppInstallationId: "7654321"\n',
                                         f"    provider: {provider}\n    url: https://git.example.com\n")
        text = text.replace("  minnova:githubAppPrivateKey:\n    secure: v1:EXAMPLE-PLACEHOLDER\n", "")
        text = text.replace("  minnova:previews:\n", "  minnova:previews:\n    approvers: [maria]\n")
        credential = "gitlabProjectTokens" if provider == "gitlab" else "gitDeployKeys"
        for setting in (credential, "previewStatusTokens"):
            text = text.replace("config:\n", f"config:\n  minnova:{setting}:\n    oracle: {{secure: v1:E}}\n"
                                             "    storefront: {secure: v1:E}\n    catalog: {secure: v1:E}\n    ledger: {secure: v1:E}\n", 1)
        if provider != "gitlab":  # Gitea/Forgejo: previews poll, check out over ssh, list pulls with gitToken
            text = text.replace("    webhookHost: argocd-webhooks.dev.minnova.io\n", "")
            known = "git.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
            text = text.replace("config:\n", f"config:\n  minnova:gitToken: {{secure: v1:E}}\n  minnova:gitKnownHosts: "
                                f"'{known}'\n", 1)
        stack.write_text(text)
        for number, app in enumerate(("oracle", "storefront", "catalog", "ledger"), start=1):
            entry = project / f"deployments/minnova/apps/{app}.yaml"
            url = "https://git.example.com/" if provider == "gitlab" else "git@git.example.com:"
            entry.write_text(entry.read_text().replace("https://github.com/", url)
                             + (f"projectId: {number}\n" if provider == "gitlab" else ""))
    return change


@pytest.mark.parametrize("provider", ["gitlab", "gitea", "forgejo"])
def test_a_clean_app_passes_on_a_self_hosted_forge_and_sees_no_other_app(tmp_path, provider):
    """rv24v: previewStatusTokens (and any {app: ...} setting) was published whole, so every clean app on GitLab,
    Gitea or Forgejo failed validate ('names no app with previews') and read the other apps' names."""
    project = project_copy(tmp_path)
    _forge(provider)(project)
    from tests.conftest import load_stack_inputs

    load_stack_inputs(project, "dev")  # plan accepts the stack
    _publish(project, "dev", project / "examples/oracle", "oracle")
    text = (project / ORACLE / "platform/dev.yaml").read_text()
    config = yaml.safe_load(text)["config"]
    assert "storefront" not in json.dumps(config) and "catalog" not in json.dumps(config), config
    assert config["minnova:previewStatusTokens"] == {"oracle": {"secure": WITHHELD}}
    code, result = _validate(project / "examples/oracle")
    assert code == 0, result


def test_every_stack_setting_is_classified_for_publishing():
    from minnova_idp.load.app_policy import PUBLISHED_SETTINGS
    from minnova_idp.model.stack_settings import PLAIN_EXTRA_KEYS, SECRET_KEYS, StackSettings

    settings = {field.alias or name for name, field in StackSettings.model_fields.items()}
    assert set(PUBLISHED_SETTINGS) == settings | set(SECRET_KEYS) | set(PLAIN_EXTRA_KEYS)


def test_publish_names_an_app_whose_config_is_broken_and_publishes_the_others(tmp_path, monkeypatch):
    """rv24v: `policy publish oracle` failed while storefront's app.yaml was broken (one app stopped another)."""
    project = project_copy(tmp_path)
    monkeypatch.chdir(project)
    _storefront(lambda d: d.update(port="not-a-port"))(project)
    out_file = project / ORACLE / "platform/dev.yaml"
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["policy", "publish", "oracle", "-s", "dev", "--out", str(out_file)])
    assert code == 0, err.getvalue()
    assert "the hosts of app storefront are not published" in err.getvalue()
    published = yaml.safe_load(out_file.read_text())
    assert published["hostsNotPublished"] == ["storefront"]
    assert {entry["app"] for entry in published["otherHosts"]} == {"catalog", "ledger"}  # the clean apps' hosts are published
    code, result = _validate(project / "examples/oracle")
    assert code == 0 and any("storefront" in note and "not checked" in note for note in result["skipped"]), result


def test_publish_refuses_a_policy_validate_would_not_read(tmp_path, monkeypatch):
    project = project_copy(tmp_path)
    monkeypatch.chdir(project)
    monkeypatch.setattr("minnova_idp.load.app_policy.MAX_POLICY_BYTES", 300)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["policy", "publish", "oracle", "-s", "dev"])
    assert code == 1 and "validate reads at most 300" in err.getvalue() and not out.getvalue(), err.getvalue()


def test_a_problem_in_the_platform_s_files_is_named_in_the_published_policy(tmp_path):
    """rv24v: validate named Pulumi.dev.yaml (a file of the infra repository) for a problem of the published copy."""
    project = project_copy(tmp_path)
    from tests.conftest import load_stack_inputs

    document = policy_document(project, "dev", "oracle", load_stack_inputs(project, "dev").apps)
    document["config"]["minnova:imagePins"] = {"oracle": {"dev": "bad tag!"}}
    path = project / "examples/oracle" / policy_file("dev")
    path.parent.mkdir()
    path.write_text(policy_text(document))
    code, result = _validate(project / "examples/oracle")
    problem = next(p for p in result["problems"] if p["field"] == "minnova:imagePins.oracle.dev")
    assert code == 1 and problem["file"] == str(path) and "Pulumi.dev.yaml" in problem["hint"], result


def test_more_policies_than_validate_reads_are_refused_not_skipped(tmp_path):
    """rv24v: files past the 20th were skipped without a word."""
    project = project_copy(tmp_path)
    _publish(project, "dev", project / "examples/oracle", "oracle")
    platform = project / ORACLE / "platform"
    for i in range(20):
        (platform / f"s{i:02}.yaml").write_text((platform / "dev.yaml").read_text())
    code, result = _validate(project / "examples/oracle")
    assert code == 1 and any("holds 21 entries; validate reads at most 20" in p["message"]
                             for p in result["problems"]), result


def test_validate_counts_the_other_apps_cloudflare_tokens(tmp_path):
    """rv24v: validate counted the tokens of the app it checks only (capacity.py counts loaded apps), so a change
    that takes the stack past minnova:cloudflare.maxAccountTokens passed it and failed plan."""
    from minnova_idp.model.inputs import ProgramInputs
    from minnova_idp.policy.capacity import account_tokens
    from tests.conftest import load_stack_inputs

    project = project_copy(tmp_path)
    _storefront(lambda d: d.update(storage={"enabled": True}))(project)  # the other app's tokens
    inputs = load_stack_inputs(project, "dev")
    total = account_tokens(ProgramInputs(stack=inputs.stack, apps=inputs.apps))
    oracle = [app for app in inputs.apps if app.name == "oracle"]
    assert account_tokens(ProgramInputs(stack=inputs.stack, apps=oracle)) + 2 <= total  # room for oracle alone
    stack = project / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text().replace("  minnova:cloudflare:\n",
                                               f"  minnova:cloudflare:\n    maxAccountTokens: {total}\n"))
    _publish(project, "dev", project / "examples/oracle", "oracle")
    assert _validate(project / "examples/oracle")[0] == 0  # exactly at the limit
    _oracle(lambda d: d.update(storage={"enabled": True}))(project)
    plan = stack_problems(project, "dev")
    assert any("maxAccountTokens" in problem for problem in plan), plan
    code, result = _validate(project / "examples/oracle")
    assert code == 1 and any(p["field"] == "minnova:cloudflare.maxAccountTokens" for p in result["problems"]), result



@pytest.mark.parametrize("field", ["host", "aliases[0].host"])
def test_validate_refuses_another_apps_host_even_when_the_app_sorts_first(tmp_path, field):
    """validate checks an app against the hosts of the stack's other apps it cannot see (otherHosts), their aliases
    too (the example storefront serves prod on store.minnova.io). Those apps run: their hosts are theirs, as the
    stack's outputs make them for plan (ADR 0012). Before, the claims were settled by name, so oracle (sorting
    before storefront) was told nothing while plan would refuse it against the deployed storefront."""
    project = project_copy(tmp_path)
    entry = project / "deployments/minnova/apps/oracle.yaml"  # the platform lets oracle use it: ownership still holds
    entry.write_text(entry.read_text() + "hosts: [oracle.minnova.io, oracle.dev.minnova.io, store.minnova.io]\n")
    _publish(project, "prod", project / "examples/oracle", "oracle")
    published = yaml.safe_load((project / ORACLE / "platform/prod.yaml").read_text())
    assert {"host": "store.minnova.io", "app": "storefront", "environment": "prod"} in published["otherHosts"]
    if field == "host":
        _oracle(lambda d: d["environments"]["prod"].update(host="store.minnova.io"))(project)
    else:
        _oracle(lambda d: d["environments"]["prod"].update(aliases=[{"host": "store.minnova.io"}]))(project)
    code, result = _validate(project / "examples/oracle", "-s", "prod")
    messages = [_shown(problem) for problem in result.get("problems", [])]
    assert code == 1 and any(f"environments.prod.{field}: 'store.minnova.io' is already the host of app "
                             "'storefront' (prod)" in m for m in messages), messages
    assert not any("may use" in m for m in messages), messages  # the registry allows it: only ownership refuses
