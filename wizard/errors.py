"""The one exception type the planner raises for bad input.

Every message is written for the person who typed the input: it says what is
wrong and what to do. The CLI prints it on one line and exits with status 2;
the dashboard shows it with ``st.error``.
"""


class WizardError(ValueError):
    """A user-facing planning error (bad input, unknown model or GPU, ...)."""
