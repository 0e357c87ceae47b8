"""Refusals with a stable code and a message in Chinese and English.

Every refusal the service makes is an ``EcoError``; the HTTP layer turns it into
``{"error": {"code", "message_zh", "message_en", "detail"}}`` with its 4xx status and the CLI
prints it and exits 2.
"""

from __future__ import annotations

from typing import Any


class EcoError(Exception):
    status: int = 422

    def __init__(
        self,
        code: str,
        message_zh: str,
        message_en: str,
        *,
        status: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message_en}")
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en
        self.detail = detail or {}
        if status is not None:
            self.status = status

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message_zh": self.message_zh,
                "message_en": self.message_en,
                "detail": self.detail,
            }
        }


class NotFound(EcoError):
    status = 404


class InputRefused(EcoError):
    """A file or request the service cannot accept (422 unless a more exact status is given)."""

    status = 422


class Unauthorized(EcoError):
    status = 401


class Conflict(EcoError):
    status = 409
