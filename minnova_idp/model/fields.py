"""Field types every config file shares, and the strict base model.

pydantic v2 in strict mode with unknown keys rejected: `port: "4000"` is an error,
not a silent coercion, and `imagee:` is a typo, not an ignored key. Keys are
camelCase in YAML (`healthCheck`), as in Kubernetes manifests. Each validator is the
authority and explains itself; the JSON Schema patterns are what editors check as you type.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, WithJsonSchema
from pydantic.alias_generators import to_camel

from minnova_idp.model import gitrules, names
from minnova_idp.model.quantity import QuantityError, parse_quantity


class StrictModel(BaseModel):
    # defer_build: validators are built on first use, so a command pays only for the models it uses.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, alias_generator=to_camel, defer_build=True)


# ---- field types ---------------------------------------------------------------------------

def _app_name(value: str) -> str:
    if (why := names.check_app_name(value)) is not None:
        raise ValueError(why)
    return value


def validate_environment_name(value: str) -> str:
    if (why := names.check_environment_name(value)) is not None:
        raise ValueError(why)
    return value


def validate_hostname(value: str) -> str:
    if "://" in value:
        raise ValueError(f"'{value}' must be a bare host name, without a scheme such as https://")
    if "*" in value:
        raise ValueError(f"'{value}': wildcard hosts are not allowed; give one host per environment")
    if "/" in value or ":" in value:
        raise ValueError(f"'{value}' must be a bare host name, without a path or port")
    if value != value.lower():
        raise ValueError(f"'{value}' must be lowercase; try '{value.lower()}'")
    if value.endswith("."):
        raise ValueError(f"'{value}' must not end with a dot")
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2:
        raise ValueError(f"'{value}' is not a fully qualified domain name (e.g. app.example.com)")
    for label in labels:
        if len(label) > names.DNS_LABEL_MAX or not names.DNS_LABEL_RE.fullmatch(label):
            raise ValueError(f"'{value}': '{label}' is not a valid DNS label "
                             f"(lowercase letters, digits and '-', at most 63 characters)")
    if labels[-1].isdigit():
        raise ValueError(f"'{value}' looks like an IP address; give a DNS name")
    return value


def _quantity(value: str) -> str:
    try:
        amount = parse_quantity(value)
    except QuantityError as exc:
        raise ValueError(str(exc)) from None
    if amount <= 0:
        raise ValueError(f"'{value}' must be greater than zero")
    return value


_ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Set by the platform; an app defining them would silently lose or override them.
RESERVED_ENV_VARS = {"PORT": "set `port:` instead; the platform sets PORT to it"}


def _env_var_name(value: str) -> str:
    if not _ENV_VAR_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a valid environment variable name "
                         "(letters, digits and '_', not starting with a digit)")
    if value in RESERVED_ENV_VARS:
        raise ValueError(f"'{value}' is set by the platform; {RESERVED_ENV_VARS[value]}")
    return value


_IMAGE_REPO_RE = re.compile(
    r"^(?:[a-z0-9]([a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(?::\d+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_IMAGE_TAG_RE = re.compile(r"^(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[a-f0-9]{64})$")


def validate_image_repository(value: str) -> str:
    if "://" in value:
        raise ValueError(f"'{value}': give the repository without a scheme (e.g. registry.example.com/team/app)")
    if "@" in value or ":" in value.rsplit("/", 1)[-1]:
        raise ValueError(f"'{value}' includes a tag or digest; put it in `tag:` (or per environment in `imageTag:`)")
    if not _IMAGE_REPO_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a valid image repository (lowercase, e.g. registry.example.com/team/app)")
    return value


def validate_image_tag(value: str) -> str:
    if not _IMAGE_TAG_RE.fullmatch(value):
        raise ValueError(f"'{value}' is not a valid image tag (letters, digits, '_', '.', '-', at most 128) "
                         "or digest (sha256:<64 hex>)")
    return value


def _http_path(value: str) -> str:
    if not value.startswith("/") or any(c.isspace() for c in value):
        raise ValueError(f"'{value}' must be an absolute URL path such as /healthz")
    return value


def server_name(maximum: int, what: str) -> type:
    """The type of a name app.yaml gives a database server (`what`: a CNPG Cluster, a MariaDB, a
    PerconaServerMongoDB): an app name's rule, at most `maximum` characters."""
    def _server_name(value: str) -> str:
        if len(value) > maximum or not names.APP_NAME_RE.fullmatch(value):
            raise ValueError(f"'{value}' must be lowercase letters, digits and '-', start with a letter, at most "
                             f"{maximum} characters (it names {what})")
        return value
    return Annotated[str, AfterValidator(_server_name)]


def default_shown_as(text: str) -> dict[str, str]:
    """For a field whose default is computed (None in the model): how the reference names it."""
    return {"x-default": text}


def _documented(pattern: str, max_length: int | None = None, **extra) -> WithJsonSchema:
    """What editors check as you type; the validators above are the authority and explain."""
    schema = {"type": "string", "pattern": pattern, **extra}
    if max_length:
        schema["maxLength"] = max_length
    return WithJsonSchema(schema)


AppName = Annotated[str, AfterValidator(_app_name),
                    _documented(names.APP_NAME_RE.pattern, names.APP_NAME_MAX, examples=["oracle"])]
EnvironmentName = Annotated[str, AfterValidator(validate_environment_name),
                            _documented(names.ENV_NAME_RE.pattern, names.ENV_NAME_MAX)]
Hostname = Annotated[str, AfterValidator(validate_hostname), _documented(
    r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", 253, examples=["app.example.com"])]
Quantity = Annotated[str, AfterValidator(_quantity), _documented(
    r"^(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$", examples=["5Gi", "250m"])]
EnvVarName = Annotated[str, AfterValidator(_env_var_name), _documented(_ENV_VAR_RE.pattern)]
ImageRepository = Annotated[str, AfterValidator(validate_image_repository),
                            _documented(_IMAGE_REPO_RE.pattern, examples=["registry.example.com/team/app"])]
ImageTag = Annotated[str, AfterValidator(validate_image_tag), _documented(_IMAGE_TAG_RE.pattern)]
HttpPath = Annotated[str, AfterValidator(_http_path), _documented(r"^/\S*$", examples=["/healthz"])]

GitUrl = Annotated[str, AfterValidator(gitrules.check_registry_url)]
GitRef = Annotated[str, AfterValidator(gitrules.check_ref)]
RepoSubpath = Annotated[str, AfterValidator(gitrules.normalize_subpath)]


# Sundays at 05:00 UTC: after the 03:00 daily base backup, so a restore drill restores last night's backup and its WAL.
DEFAULT_DRILL_SCHEDULE = "0 5 * * 0"
_CRON_FIELD = r"[0-9*/,\-A-Za-z]+"
_CRON_RE = re.compile(rf"^(@(yearly|annually|monthly|weekly|daily|hourly)|{_CRON_FIELD}(\s+{_CRON_FIELD}){{4}})$")


# Kubernetes parses CronJob schedules with robfig/cron v3's standard parser (kubernetes
# pkg/apis/batch/validation/validation.go validateScheduleFormat: cron.ParseStandard): these are its bounds and
# names (robfig/cron@v3.0.1 spec.go:23-40, `minutes`..`dow`: day of week 0-6, so no 7), its `*`/`?`, `a-b`, and
# `/step` with a positive step (parser.go:252-317, "step of range should be a positive number" at :313-314; names
# case-insensitive at :323). Checked here so a schedule the API server would reject is refused at validate.
_CRON_BOUNDS = (("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}),
                ("month", 1, 12, {name: i for i, name in enumerate(
                    "jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}),
                ("day of week", 0, 6, {name: i for i, name in enumerate("sun mon tue wed thu fri sat".split())}))


def _cron_value(text: str, low: int, high: int, names: dict[str, int]) -> int:
    number = names.get(text.lower()) if not text.isdigit() else int(text) if len(text) <= 3 else None
    if number is None or not low <= number <= high:
        raise ValueError(text)
    return number


def _cron_field_problem(field: str, name: str, low: int, high: int, names: dict[str, int]) -> str | None:
    for item in field.split(","):
        span, _, step = item.partition("/")
        try:
            if step and (not step.isdigit() or len(step) > 3 or int(step) == 0):
                return f"the {name} step '{step}' must be a positive number"
            if span not in ("*", "?"):
                start, dash, end = span.partition("-")
                first = _cron_value(start, low, high, names)
                if dash and _cron_value(end, low, high, names) < first:
                    return f"the {name} range '{span}' ends before it starts"
        except ValueError as exc:
            return f"the {name} '{exc}' is not a number from {low} to {high}" + (" or a name" if names else "")
    return None


def _cron_schedule(value: str) -> str:
    """A CronJob schedule: five cron fields or a @macro, each field in the range Kubernetes accepts."""
    if not _CRON_RE.fullmatch(value.strip()):
        raise ValueError(f"'{value}' is not a cron schedule: five fields (minute hour day month weekday), e.g. "
                         f"'{DEFAULT_DRILL_SCHEDULE}', or @daily / @weekly")
    if not value.strip().startswith("@"):
        for field, bounds in zip(value.split(), _CRON_BOUNDS):
            if problem := _cron_field_problem(field, *bounds):
                raise ValueError(f"'{value}' is not a cron schedule: {problem}")
    return value.strip()


CronSchedule = Annotated[str, AfterValidator(_cron_schedule), _documented(_CRON_RE.pattern)]


def _host_pattern(value: str) -> str:
    """A host name, or one with `*` standing for exactly one DNS label (`*.oracle.example.com`, `oracle.*.example.com`)."""
    if "*" in value:
        labels = value.split(".")
        if any("*" in label and label != "*" for label in labels) or len(labels) < 3:
            raise ValueError(f"'{value}': `*` stands for one whole label (e.g. *.app.example.com), below a domain")
        validate_hostname(".".join("x" if label == "*" else label for label in labels))
        return value
    return validate_hostname(value)


def host_matches(pattern: str, host: str) -> bool:
    """`*` matches exactly one label: `*.a.io` matches `x.a.io`, not `a.io` nor `y.x.a.io`."""
    wanted, labels = pattern.split("."), host.split(".")
    return len(wanted) == len(labels) and all(w in ("*", label) for w, label in zip(wanted, labels))


HostPattern = Annotated[str, AfterValidator(_host_pattern), _documented(
    r"^(\*|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.(\*|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?))+$",
    253, examples=["shop.example.com", "shop.*.example.com"])]
