"""The stack secret that generated passwords (Redis, MongoDB) derive from: present and strong enough when needed."""

from __future__ import annotations

from minnova_idp.model.errors import Problem
from minnova_idp.model.inputs import ProgramInputs

PASSWORD_KEY_MIN_CHARACTERS = 32


def password_key_problems(inputs: ProgramInputs) -> list[Problem]:
    """A stack whose apps (or previews) have a Redis needs the key their passwords derive from (redis.py)."""
    from minnova_idp.model.secrets import SECRET_PLACEHOLDER

    key, file = inputs.stack.secrets.password_key, inputs.stack.file
    hint = 'pulumi config set --secret minnova:passwordKey "$(openssl rand -hex 32)"'
    if key is None:
        users = sorted({app.name for app, _ in inputs.deployed() if app.config.redis.enabled})
        mongodb = sorted({app.name for app, _ in inputs.deployed() if app.config.mongodb.enabled})  # render/mongodb.py
        reasons = ([f"the Redis passwords of {', '.join(users)} derive from it"] if users else []) + (
            [f"the MongoDB passwords of {', '.join(mongodb)} derive from it"] if mongodb else [])
        if not reasons:
            return []
        return [Problem(file, "minnova:passwordKey", f"is required: {', and '.join(reasons)}", hint=hint)]
    if key != SECRET_PLACEHOLDER and len(key.strip()) < PASSWORD_KEY_MIN_CHARACTERS:
        return [Problem(file, "minnova:passwordKey", f"is shorter than {PASSWORD_KEY_MIN_CHARACTERS} characters "
                        "(not shown): every generated password is only as strong as it", hint=hint)]
    return []
