"""The exit statuses of every `registervard` command, in one place (the README's "Exit status" table lists them).

A script tells the outcomes apart by these alone: 0 done; 1 an error (nothing or not all of it done, advice on
standard error); 2 the command line was not understood (click's own status for a usage error, kept as it is);
3 the command's answer is no (contact not allowed, the audit trail broken); 4 done, but some of the input was
refused (each refused line or row named on standard error; the rest was done). The long-running worker has two more
of its own (`WORKER_GAVE_UP`, `STOPPED_MID_BATCH`).
"""

from __future__ import annotations

from typing import Final

OK: Final = 0
"""Done; for a command that answers a question: yes (contact allowed, the audit trail intact)."""

ERROR: Final = 1
"""An error, explained on standard error with what to do: an unreachable broker or database, an unknown customer,
a file that cannot be read, a confirmation declined. Nothing was done, or (said so) not all of it."""

USAGE: Final = 2
"""The command line was not understood: an unknown option, a missing argument, a value an option does not take
(`--channel TELEFON`). Click exits with it before the command runs; commands raise `typer.BadParameter` for it."""

ANSWER_NO: Final = 3
"""The command ran and its answer is no: `contact check` (contact is not allowed), `audit verify` (the trail is
broken). Not 1, so that `if registervard contact check ...` tells a refusal from a failure to ask."""

SOME_REFUSED: Final = 4
"""Done, but some of the input was refused: `publish` and `publish --check` (a line), `import` (a row), `nix import` (a
line), `deadletters export` (a dead letter that cannot be decoded). Each is named on standard error; the rest was
done (with --all-or-nothing: nothing was published)."""

WORKER_GAVE_UP: Final = 70
"""`registervard worker` met an error it cannot handle (EX_SOFTWARE) and stopped before committing anything after it;
a supervisor starts it again. The worker exits with `processors.worker_app.EXIT_FAILED` (a test holds the two equal:
processors may not import from here)."""

STOPPED_MID_BATCH: Final = 143
"""`registervard worker` was asked to stop (SIGTERM) in the middle of a batch and stopped as after an error
(`processors.worker_app.EXIT_STOPPED`, 128 + 15)."""
