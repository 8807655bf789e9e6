"""age identities and recipients for sops files, through pyrage (rage): parse, generate, read from the
environment, and open or seal the data key each recipient's `sops.age[].enc` stanza holds."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyrage

from minnova_idp.load.yamlsafe import FileRefused, read_regular_file
from minnova_idp.sops.errors import SopsError

MAX_KEY_FILE_BYTES = 64 * 1024  # an age identity is 74 characters; a key file holds a few
_PQ_IDENTITY_PREFIX = "AGE-SECRET-KEY-PQ-1"
_PQ_RECIPIENT_PREFIX = "age1pq1"


@dataclass(frozen=True)
class AgeIdentity:
    secret: str = field(repr=False)  # "AGE-SECRET-KEY-1..."; never shown
    recipient: str  # "age1...", its public key


def _pyrage_version() -> str:
    from importlib import metadata as _package_metadata  # only for this message: importlib.metadata is slow to load

    try:
        return _package_metadata.version("pyrage")
    except _package_metadata.PackageNotFoundError:  # pragma: no cover - installed without metadata
        return "unknown"


def _post_quantum_unsupported() -> str:
    return (f"post-quantum age recipients (age1pq…) are not supported by the installed pyrage version "
            f"({_pyrage_version()}); the file needs an X25519 (age1…) recipient")


def parse_identities(text: str, source: str) -> list[AgeIdentity]:
    """age key-file format: one identity per line; blank lines and `#` comments are ignored."""
    identities: list[AgeIdentity] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith(_PQ_IDENTITY_PREFIX):
            raise SopsError(source, f"line {number} is a post-quantum age identity: {_post_quantum_unsupported()}")
        try:
            identity = pyrage.x25519.Identity.from_str(line)
        except pyrage.IdentityError:
            # `from None`: the pyrage message could quote part of the line, which may be a key.
            raise SopsError(source, f"line {number} is not an age identity") from None
        identities.append(AgeIdentity(secret=str(identity), recipient=str(identity.to_public())))
    return identities


def generate_identity() -> AgeIdentity:
    identity = pyrage.x25519.Identity.generate()
    return AgeIdentity(secret=str(identity), recipient=str(identity.to_public()))


def identities_from_environment(identity_file: Path | None = None,
                                environ: Mapping[str, str] | None = None) -> list[AgeIdentity]:
    """The identities to decrypt with: an explicit file, else SOPS_AGE_KEY_FILE, else SOPS_AGE_KEY."""
    env = os.environ if environ is None else environ
    if identity_file is not None:
        return _identities_from_file(Path(identity_file))
    if env.get("SOPS_AGE_KEY_FILE"):
        return _identities_from_file(Path(env["SOPS_AGE_KEY_FILE"]).expanduser())
    if env.get("SOPS_AGE_KEY"):
        return _non_empty(parse_identities(env["SOPS_AGE_KEY"], "SOPS_AGE_KEY"), "SOPS_AGE_KEY")
    raise SopsError("<identities>", "no age identity: pass --identity KEYFILE or set SOPS_AGE_KEY_FILE / SOPS_AGE_KEY")


def _identities_from_file(path: Path) -> list[AgeIdentity]:
    # Bounded and regular files only (a FIFO would block, /dev/zero never end); symlinks are
    # followed: Kubernetes mounts secret files as links.
    try:
        text = read_regular_file(path, MAX_KEY_FILE_BYTES).decode("utf-8")
    except FileRefused as exc:
        if exc.missing:
            raise SopsError(str(path), "age key file not found") from None
        raise SopsError(str(path), f"cannot read the age key file: {exc.reason}") from None
    except UnicodeDecodeError:
        raise SopsError(str(path), "cannot read the age key file: not UTF-8 text") from None
    return _non_empty(parse_identities(text, str(path)), str(path))


def _non_empty(identities: list[AgeIdentity], source: str) -> list[AgeIdentity]:
    if not identities:
        raise SopsError(source, "contains no age identity")
    return identities


@dataclass(frozen=True)
class AgeKey:
    recipient: str
    enc: str  # armored age file holding the 32-byte data key



def open_data_key(age_keys: Sequence[AgeKey], identities: Sequence[AgeIdentity], file: str) -> bytes:
    """The 32-byte data key, from the first stanza one of `identities` opens."""
    shown = tuple(_short_recipient(key.recipient) for key in age_keys)
    if not identities:
        raise SopsError(file, "no age identity given", shown)
    keys = [_pyrage_identity(identity) for identity in identities]
    for age_key in age_keys:  # every recipient's stanza against every identity, like sops
        try:
            data_key = pyrage.decrypt(age_key.enc.encode("utf-8"), keys)
        except pyrage.DecryptError:
            continue
        if len(data_key) != 32:
            raise SopsError(file, "the age-encrypted data key is not 32 bytes", shown)
        return data_key
    if all(_is_post_quantum(age_key) for age_key in age_keys):
        raise SopsError(file, _post_quantum_unsupported(), shown)
    raise SopsError(file, "none of the given age identities can decrypt this file", shown)


def _pyrage_identity(identity: AgeIdentity) -> pyrage.x25519.Identity:
    try:
        return pyrage.x25519.Identity.from_str(identity.secret)
    except pyrage.IdentityError:
        raise SopsError("<identities>", f"the identity for {identity.recipient} is not an age X25519 identity") from None


def _short_recipient(recipient: str) -> str:
    # Post-quantum recipients are ~1950 characters; a recognisable head and tail is enough.
    return recipient if len(recipient) <= 80 else f"{recipient[:20]}…{recipient[-8:]}"


def _is_post_quantum(age_key: AgeKey) -> bool:
    if age_key.recipient.startswith(_PQ_RECIPIENT_PREFIX):
        return True
    # The recipient field is only a label; the age header names the real stanza types.
    body = "".join(line for line in age_key.enc.splitlines() if line and not line.startswith("-----"))
    try:
        header = base64.b64decode(body, validate=False)
    except (binascii.Error, ValueError):
        return False
    return b"\n-> mlkem768x25519 " in header.split(b"\n---", 1)[0]



def age_recipients(recipients: Sequence[str]) -> list[pyrage.x25519.Recipient]:
    if isinstance(recipients, str) or not recipients:
        raise SopsError("<recipients>", "give at least one age recipient (a list of age1... strings)")
    parsed = []
    for index, recipient in enumerate(recipients, start=1):
        if recipient.startswith(_PQ_RECIPIENT_PREFIX):
            raise SopsError("<recipients>", f"recipient {index}: {_post_quantum_unsupported()}")
        try:
            parsed.append(pyrage.x25519.Recipient.from_str(recipient))
        except pyrage.RecipientError:
            raise SopsError("<recipients>", f"recipient {index} is not an age X25519 recipient (age1...)") from None
    return parsed


def seal_data_key(data_key: bytes, recipients: Sequence[str]) -> list[dict[str, str]]:
    """`sops.age`: the data key age-encrypted (armored) once per recipient."""
    return [{"recipient": str(recipient), "enc": pyrage.encrypt(data_key, [recipient], armored=True).decode()}
            for recipient in age_recipients(recipients)]
