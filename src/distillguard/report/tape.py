"""A compact, columnar record of every judged request, for timelines.

The gateway keeps the newest ``capacity`` requests (about 30 bytes each, so a million cost
~30 MB); ``analyze`` keeps a whole run. Both draw the same plots from it: traffic and decisions
over time, an account's score and signals over its requests, a campaign's volume and
capability focus. Signal values are stored as bytes (1/255 resolution), enough for a plot.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

ACTIONS: tuple[str, ...] = ("allow", "flag", "throttle", "degrade", "review", "block")
_CHUNK = 65_536


@dataclass(frozen=True, slots=True)
class TapeView:
    """Rows of the tape (oldest first) as arrays; codes index ``accounts`` / ``capabilities``."""

    ts: npt.NDArray[np.float64]
    account: npt.NDArray[np.int32]
    action: npt.NDArray[np.int8]
    capability: npt.NDArray[np.int16]
    score: npt.NDArray[np.float32]
    signals: npt.NDArray[np.uint8]  # shape (rows, len(detectors))
    accounts: tuple[str, ...]
    capabilities: tuple[str, ...]
    detectors: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.ts)

    def signal(self, name: str) -> npt.NDArray[np.float32]:
        column = self.signals[:, self.detectors.index(name)]
        return column.astype(np.float32) / 255.0


class _Chunk:
    __slots__ = ("account", "action", "capability", "n", "score", "signals", "ts")

    def __init__(self, n_detectors: int):
        self.n = 0
        self.ts = np.empty(_CHUNK, np.float64)
        self.account = np.empty(_CHUNK, np.int32)
        self.action = np.empty(_CHUNK, np.int8)
        self.capability = np.empty(_CHUNK, np.int16)
        self.score = np.empty(_CHUNK, np.float32)
        self.signals = np.zeros((_CHUNK, n_detectors), np.uint8)


class Tape:
    def __init__(self, detectors: Sequence[str], capacity: int | None = 1_000_000):
        self.detectors = tuple(detectors)
        self._column = {name: i for i, name in enumerate(self.detectors)}
        # Whole chunks of 65,536 rows are dropped: the tape keeps at least the newest
        # ``capacity`` rows and at most one chunk more than it needs for them.
        self.capacity = capacity
        self._chunks: list[_Chunk] = []
        self._accounts: dict[str, int] = {}
        self._account_names: list[str] = []
        self._capabilities: dict[str, int] = {}
        self._lock = threading.Lock()  # the dashboard reads while the gateway writes
        self.dropped = 0

    def __len__(self) -> int:
        return sum(c.n for c in self._chunks)

    def _code(self, table: dict[str, int], value: str, names: list[str] | None = None) -> int:
        code = table.get(value)
        if code is None:
            code = table[value] = len(table)
            if names is not None:
                names.append(value)
        return code

    def record(
        self,
        ts: float,
        account: str,
        action: str,
        capability: str,
        score: float,
        values: Mapping[str, float],
    ) -> None:
        with self._lock:
            chunk = self._chunks[-1] if self._chunks else None
            if chunk is None or chunk.n == _CHUNK:
                chunk = _Chunk(len(self.detectors))
                self._chunks.append(chunk)
                self._trim()
            i = chunk.n
            chunk.ts[i] = ts
            chunk.account[i] = self._code(self._accounts, account, self._account_names)
            chunk.action[i] = ACTIONS.index(action)  # a Decision's action: always on the list
            chunk.capability[i] = self._code(self._capabilities, capability)
            chunk.score[i] = score
            row = chunk.signals[i]
            row[:] = 0
            column = self._column
            for name, value in values.items():
                j = column.get(name)
                if j is not None:
                    row[j] = round(255 * min(1.0, max(0.0, value)))
            chunk.n = i + 1

    def _trim(self) -> None:
        if self.capacity is None:
            return
        while len(self._chunks) > 1 and len(self) - self._chunks[0].n >= self.capacity:
            self.dropped += self._chunks.pop(0).n

    def view(self, accounts: Iterable[str] | None = None) -> TapeView:
        """All rows, or only those of ``accounts``."""
        with self._lock:
            chunks = [(c, c.n) for c in self._chunks]
            names = tuple(self._account_names)
            capabilities = tuple(sorted(self._capabilities, key=self._capabilities.__getitem__))
            wanted = None
            if accounts is not None:
                codes = [self._accounts[a] for a in accounts if a in self._accounts]
                wanted = np.asarray(codes, np.int32)

        def column(attr: str) -> npt.NDArray[np.generic]:
            parts = [getattr(c, attr)[:n] for c, n in chunks]
            if not parts:
                return np.empty((0, len(self.detectors)) if attr == "signals" else 0)
            return np.concatenate(parts)

        account = column("account").astype(np.int32)
        keep = slice(None) if wanted is None else np.isin(account, wanted)
        return TapeView(
            ts=column("ts").astype(np.float64)[keep],
            account=account[keep],
            action=column("action").astype(np.int8)[keep],
            capability=column("capability").astype(np.int16)[keep],
            score=column("score").astype(np.float32)[keep],
            signals=column("signals")
            .astype(np.uint8)
            .reshape(len(account), len(self.detectors))[keep]
            if self.detectors
            else np.zeros((len(account), 0), np.uint8)[keep],
            accounts=names,
            capabilities=capabilities,
            detectors=self.detectors,
        )
