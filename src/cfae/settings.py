"""One line for a failed settings check (pydantic), for the command line and for the files read back."""

from __future__ import annotations

from pydantic import ValidationError


def validation_problems(err: ValidationError) -> str:
    """Every problem on one line: where (e.g. train.compile), what, and the value given. A file that
    is not JSON at all gives pydantic's position of the fault, never the file's whole text."""
    problems = []
    for e in err.errors():
        where = ".".join(str(part) for part in e["loc"])
        shown = "input" in e and not isinstance(e["input"], dict) and e["type"] != "json_invalid"
        given = f" (given {e['input']!r})" if shown else ""
        problems.append(f"{where + ': ' if where else ''}{e['msg']}{given}")
    return "; ".join(problems)
