"""Progress of app repository fetches, one line per repository, for `pulumi up` and the CLI."""

from __future__ import annotations


class FetchProgress:
    """One line per app repository as its fetch ends, on a stream (stderr): a line each in CI and logs, one line
    rewritten in place on a terminal. Long fetches are never silent, and a hung repository is named when its
    timeout (MINNOVA_IDP_GIT_TIMEOUT) expires."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.done = 0
        self.tty = bool(getattr(stream, "isatty", lambda: False)())

    def __call__(self, result) -> None:
        from minnova_idp.load.git import FetchError
        from minnova_idp.model.gitrules import redact_url

        self.done += 1
        url = redact_url(result.spec.url)
        if isinstance(result, FetchError):
            line = f"[{self.done}] {url}: failed: {result.reason}"
        else:
            line = f"[{self.done}] {url}@{result.commit[:12]}"
        if self.tty and not isinstance(result, FetchError):
            self.stream.write(f"\r\x1b[2Kfetched {line}")
        else:
            self.stream.write(("\r\x1b[2K" if self.tty else "") + f"fetched {line}\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self.done:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
