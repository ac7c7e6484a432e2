"""What the simulated servers share: `async with server:` serves for the block."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self


class SimServer(ABC):
    """Started on entering the block and stopped on leaving it, even when the block fails."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None:
        """Stop serving; stopping a stopped server does nothing."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
