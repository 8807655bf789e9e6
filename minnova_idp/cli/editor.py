"""`secrets edit`'s editor: a private plaintext copy that nothing leaves behind."""

from __future__ import annotations

import os
import sys

from minnova_idp.model.errors import ConfigError, Problem


def run_editor(plaintext: str, name: str, shown: str) -> bytes:
    """$SOPS_EDITOR, $EDITOR or vi on a private copy: a 0600 file in a 0700 directory of its own under $TMPDIR.
    Whatever happens (the editor fails, Ctrl+C, SIGTERM, SIGHUP, an exception), every file in that directory
    (the editor's backups and swap files too) is overwritten with zeros and deleted, then the directory. Only
    SIGKILL or a power cut can leave it behind; a file the editor replaced instead of rewriting is deleted without
    being overwritten (its old blocks are the file system's)."""
    import shlex
    import signal
    import subprocess
    import tempfile

    from minnova_idp.load.yamlsafe import MAX_BYTES, FileRefused, read_regular_file

    editor = os.environ.get("SOPS_EDITOR") or os.environ.get("EDITOR") or "vi"
    try:
        command = shlex.split(editor)
    except ValueError:
        command = []
    if not command:
        raise ConfigError([Problem("EDITOR", message="cannot be split into a command", hint="e.g. EDITOR='code --wait'")])

    def stop(signum, _frame):
        raise SystemExit(128 + signum)

    previous = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[signum] = signal.signal(signum, stop)
        except ValueError:  # not the main thread: the caller's handlers stay
            pass
    directory = tempfile.mkdtemp(prefix="minnova-secrets-")
    try:
        private = os.path.join(directory, name)
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(plaintext)
        try:
            result = subprocess.run([*command, private])
        except OSError as exc:
            raise ConfigError([Problem("EDITOR", message=f"cannot run '{command[0]}': {exc.strerror}",
                                       hint="set EDITOR (or SOPS_EDITOR) to an editor that waits, e.g. "
                                            "'code --wait'")]) from None
        if result.returncode != 0:
            raise ConfigError([Problem(shown, message=f"the editor ({command[0]}) exited with status "
                                       f"{result.returncode}: nothing was changed")])
        try:
            return read_regular_file(private, MAX_BYTES, follow_symlinks=False)
        except FileRefused as exc:
            raise ConfigError([Problem(shown, message=f"the edited copy cannot be read back ({exc.reason}): "
                                       "nothing was changed")]) from None
    except KeyboardInterrupt:
        print(f"Interrupted: {shown} was not changed.", file=sys.stderr)
        raise
    finally:
        _scrub(directory)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _scrub(directory: str) -> None:
    """Overwrite every regular file under `directory` with zeros, then delete everything (links unfollowed)."""
    import contextlib
    import shutil
    import stat

    for root, dirs, files in os.walk(directory, topdown=False):
        for name in files:
            path = os.path.join(root, name)
            with contextlib.suppress(OSError):
                fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
                try:
                    size = os.fstat(fd).st_size
                    if stat.S_ISREG(os.fstat(fd).st_mode):
                        os.write(fd, b"\0" * size)
                        os.fsync(fd)
                finally:
                    os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
        for name in dirs:
            path = os.path.join(root, name)
            with contextlib.suppress(OSError):
                os.unlink(path) if os.path.islink(path) else os.rmdir(path)
    shutil.rmtree(directory, ignore_errors=True)
