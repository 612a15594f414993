"""The user-facing errors the planner raises for bad input.

Every message is written for the person who typed the input: it says what is
wrong and what to do, and never names a CLI flag or a form label.  An error
about one request field carries that field's name; each face renders it in
its own words (the flag in the CLI, the label on the page, the key in a
profile).  The CLI prints it on one line and exits with status 2; the
dashboard shows it with ``st.error``.
"""

from __future__ import annotations


class WizardError(ValueError):
    """A user-facing planning error (bad input, unknown model or GPU, ...), about ``field`` when one is to blame."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.problems: list[tuple[str | None, str]] = [(field, message)]


class InvalidInput(WizardError):
    """Values the request schema rejects: (field, message) for each, so every face can name them its way."""

    def __init__(self, problems: list[tuple[str | None, str]]) -> None:
        super().__init__("; ".join(f"{field} {message}" if field else message for field, message in problems),
                         problems[0][0] if len(problems) == 1 else None)
        self.problems = problems
