"""The root of the errors pilotproof raises on purpose.

`except PilotproofError` catches every refusal of every package (a bad site config, an
unreachable store, a tampered bundle …) and nothing else — a bug still surfaces as
itself. Each error has a stable `code` (`E_…`) that scripts, reports and the API can
rely on; its message names the place, the value and the fix, and may change wording.
Every subclass also derives from the built-in error it always was (`ValueError`,
`RuntimeError` …), so existing `except` clauses keep working.
"""

from __future__ import annotations


class PilotproofError(Exception):
    """Base of pilotproof's errors.

    Args:
        *args: the message (as for any exception).
        code: overrides the class's `code` for this instance (an archive refused for its
            size and one refused for its layout are one class with two codes).
    """

    code: str = "E_PILOTPROOF"

    def __init__(self, *args: object, code: str | None = None) -> None:
        super().__init__(*args)
        if code is not None:
            self.code = code
