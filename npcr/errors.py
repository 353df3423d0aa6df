"""Errors npcr reports to its users as one clear line (file and line where known)."""


class NpcrError(Exception):
    """A problem with the user's input or files; command-line tools print it and exit with code 2."""


class DataFormatError(NpcrError):
    """A data file that does not parse or validate; the message names the file and line."""

    def __init__(self, path, message: str, line: int | None = None):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line (whitespace collapsed), cut to ``limit`` characters."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
