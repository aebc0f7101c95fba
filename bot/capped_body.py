"""Reading an HTTP body without trusting its size: LL2's answers and cover images alike."""

from __future__ import annotations

import httpx


class BodyTooLarge(Exception):
    """The body is over ``cap`` bytes: ``declared`` is its Content-Length when that said so
    (nothing was read), None when the bytes themselves went over."""

    def __init__(self, cap: int, declared: int | None = None) -> None:
        super().__init__(f"over the {cap} byte cap")
        self.cap = cap
        self.declared = declared


async def read_capped(response: httpx.Response, cap: int) -> bytes:
    """The streamed ``response``'s body, at most ``cap`` bytes, else :class:`BodyTooLarge`.

    The declared Content-Length is checked first (nothing is read), then the decoded bytes as
    they arrive, so a compressed bomb or a lying header is stopped at the cap.
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        raise BodyTooLarge(cap, int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():  # decoded: a compressed bomb is caught too
        size += len(chunk)
        if size > cap:
            raise BodyTooLarge(cap)
        chunks.append(chunk)
    return b"".join(chunks)
