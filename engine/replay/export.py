"""Export files: recorded requests as JSON lines, so CI can replay without the database.

One ``RecordedRequest.as_dict()`` object per line (``turnout usage export`` writes them,
``turnout replay --from FILE`` reads them; ``-`` is stdin/stdout). Blank lines are allowed;
a line that is not a recorded request is an error naming its line number.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import IO

import orjson

from engine.replay.recorded import RecordedRequest, RecordError, from_dict


class ExportError(ValueError):
    pass


def write_export(requests: Iterable[RecordedRequest], out: IO[bytes]) -> int:
    count = 0
    for recorded in requests:
        out.write(orjson.dumps(recorded.as_dict()) + b"\n")
        count += 1
    return count


def read_export(lines: Iterable[bytes], name: str) -> Iterator[RecordedRequest]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield from_dict(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise ExportError(f"{name}:{number}: not JSON ({exc})") from None
        except RecordError as exc:
            raise ExportError(f"{name}:{number}: {exc}") from None
