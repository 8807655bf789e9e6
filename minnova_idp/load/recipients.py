"""`.minnova/recipients.yaml`: the public age recipients of an app's secrets, in the app's own repository.

The platform team holds the keys and the stack config; app developers have only their app repository.
`minnova-idp secrets publish APP` (infra repository) prints this file from the stacks' public recipients
(`minnova:secretsRecipients`, or the shared one); the app repository commits it, and `secrets encrypt`,
`secrets edit`, `secrets sops-config`, `secrets recipients` and `validate` read it there:

    app: oracle
    recipients:
      dev: [age1...]
      prod: [age1...]
      preview: [age1...]

It holds public keys only. An age secret key pasted into it is refused without being shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from minnova_idp.load.validation import validate_document
from minnova_idp.load.yamlsafe import FileRefused, load_yaml, read_regular_file
from minnova_idp.model import names
from minnova_idp.model.errors import ConfigError, Problem
from minnova_idp.model.fields import AppName, StrictModel
from minnova_idp.model.stack_settings import AgeRecipient, SecretsEnvironment

RECIPIENTS_FILE = names.APP_CONFIG.parent / "recipients.yaml"
_MAX_RECIPIENTS_BYTES = 64 * 1024


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


RecipientList = Annotated[list[AgeRecipient], BeforeValidator(_one_or_many), Field(min_length=1, max_length=20)]


class PublishedRecipients(StrictModel):
    """The model of `.minnova/recipients.yaml` (unknown keys are errors, like every file here)."""

    app: AppName = Field(description="the app these recipients are for (its name in app.yaml)")
    recipients: Annotated[dict[SecretsEnvironment, RecipientList], Field(min_length=1)] = Field(
        description="per environment (and `preview`): the public age recipients its secrets file is encrypted for")

    def for_environment(self, environment: str) -> list[str]:
        return list(dict.fromkeys(self.recipients.get(environment, [])))


def read_published(app_dir: Path, shown: str | None = None) -> PublishedRecipients | None:
    """The app repository's recipients file; None when there is none. A symlink is refused, not followed."""
    path = app_dir / RECIPIENTS_FILE
    where = shown or str(path)
    try:
        content = read_regular_file(path, _MAX_RECIPIENTS_BYTES, follow_symlinks=False)
    except FileRefused as exc:
        if exc.missing:
            return None
        raise ConfigError([Problem(where, message=exc.reason)]) from None
    return validate_document(PublishedRecipients, load_yaml(content, where))


def published_text(app: str, found: dict[str, list[str]], stacks: list[str]) -> str:
    """The file `secrets publish` prints; read back through the model, so it is always valid."""
    import yaml

    body = yaml.safe_dump({"app": app, "recipients": {env: list(found[env]) for env in sorted(found)}},
                          sort_keys=False, default_flow_style=False)
    text = (f"# Public age recipients of {app}'s secrets, from `minnova-idp secrets publish {app}` "
            f"(stacks: {', '.join(stacks)}).\n"
            f"# Public keys only: commit this file as {RECIPIENTS_FILE} in {app}'s repository.\n"
            f"# `minnova-idp secrets encrypt/edit/sops-config/recipients` and `validate` read it there.\n" + body)
    validate_document(PublishedRecipients, load_yaml(text, str(RECIPIENTS_FILE)))
    return text
