"""The stack secret that generated passwords (Redis, MySQL, MongoDB) derive from: present and strong enough when needed."""

from __future__ import annotations

from minnova_idp.model.errors import Problem
from minnova_idp.model.inputs import ProgramInputs

PASSWORD_KEY_MIN_CHARACTERS = 32


def password_key_problems(inputs: ProgramInputs) -> list[Problem]:
    """A stack whose apps (or previews) have a Redis or a MySQL needs the key their passwords derive from (redis.py,
    mysql.py)."""
    from minnova_idp.model.secrets import SECRET_PLACEHOLDER

    key, file = inputs.stack.secrets.password_key, inputs.stack.file
    hint = 'pulumi config set --secret minnova:passwordKey "$(openssl rand -hex 32)"'
    if key is None:
        deployed = [app.config for app, _ in inputs.deployed()]
        users = sorted({config.name for config in deployed
                        if config.redis.enabled or config.mysql.enabled or config.mongodb.enabled})
        if not users:
            return []
        kinds = [kind for kind, used in (("Redis", any(c.redis.enabled for c in deployed)),
                                         ("MySQL", any(c.mysql.enabled for c in deployed)),
                                         ("MongoDB", any(c.mongodb.enabled for c in deployed))) if used]
        return [Problem(file, "minnova:passwordKey", f"is required: the {_listed(kinds)} passwords of "
                        f"{', '.join(users)} derive from it", hint=hint)]
    if key != SECRET_PLACEHOLDER and len(key.strip()) < PASSWORD_KEY_MIN_CHARACTERS:
        return [Problem(file, "minnova:passwordKey", f"is shorter than {PASSWORD_KEY_MIN_CHARACTERS} characters "
                        "(not shown): every generated password is only as strong as it", hint=hint)]
    return []


def _listed(words: list[str]) -> str:
    """"A", "A and B", "A, B and C"."""
    return " and ".join(filter(None, (", ".join(words[:-1]), words[-1])))
