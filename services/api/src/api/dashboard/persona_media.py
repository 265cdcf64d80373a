"""The persona form's "when a message has no text" section: its fields and `MediaReplies`.

Each kind of media the persona cannot read has a choice (the default, a short acknowledgement,
no reply, or the persona's own text) and a text box for that own text; the two fallbacks (a
voice note that could not be transcribed, an image that could not be looked at) are a text box
each, empty for the default. The form always posts the whole section, so saving it replaces the
persona's `media_replies` (kinds left at the default are not stored).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from api.personas.schemas import MEDIA_BEHAVIOURS

# The kinds with a choice, in the order the form shows them (`MediaReplies` fields).
CHOICE_KINDS = ("video", "document", "location", "contact", "sticker", "other")
# The kinds that take only the persona's own text.
TEXT_KINDS = ("audio_fallback", "image_fallback")
DEFAULT = "default"
OWN = "own"
CHOICES = (DEFAULT, *MEDIA_BEHAVIOURS, OWN)


def choice_field(kind: str) -> str:
    """The form field holding a kind's choice (also the name its errors are shown under)."""
    return f"media_{kind}"


def text_field(kind: str) -> str:
    """The form field holding a kind's own text."""
    return f"media_{kind}_text" if kind in CHOICE_KINDS else f"media_{kind}"


@dataclass(frozen=True)
class MediaRow:
    """One kind as the template shows it."""

    kind: str
    choice: str | None
    text: str

    @property
    def choice_name(self) -> str:
        """The select's name (None `choice`: a text-only kind)."""
        return choice_field(self.kind)

    @property
    def text_name(self) -> str:
        """The text box's name."""
        return text_field(self.kind)

    @property
    def error_name(self) -> str:
        """Where this kind's validation error is shown."""
        return choice_field(self.kind)


def rows_from_stored(stored: Mapping[str, str]) -> list[MediaRow]:
    """The section for a persona's stored `media_replies`."""
    rows = []
    for kind in CHOICE_KINDS:
        value = stored.get(kind)
        if value is None:
            rows.append(MediaRow(kind, DEFAULT, ""))
        elif value in MEDIA_BEHAVIOURS:
            rows.append(MediaRow(kind, value, ""))
        else:
            rows.append(MediaRow(kind, OWN, value))
    rows.extend(MediaRow(kind, None, stored.get(kind, "")) for kind in TEXT_KINDS)
    return rows


def rows_from_form(fields: Mapping[str, str]) -> list[MediaRow]:
    """The section as it was posted (shown again when the form has errors)."""
    rows = []
    for kind in CHOICE_KINDS:
        choice = fields.get(choice_field(kind), DEFAULT)
        rows.append(
            MediaRow(kind, choice if choice in CHOICES else DEFAULT, fields.get(text_field(kind), ""))
        )
    rows.extend(MediaRow(kind, None, fields.get(text_field(kind), "")) for kind in TEXT_KINDS)
    return rows


def posted_media_replies(fields: Mapping[str, str]) -> dict[str, str]:
    """The `media_replies` body of a posted form (validated by `MediaReplies` afterwards: an own
    text left empty, or one that reads like a misspelt behaviour, is refused there)."""
    found: dict[str, str] = {}
    for row in rows_from_form(fields):
        text = row.text.replace("\r\n", "\n").strip()
        if row.choice is None:
            if text:
                found[row.kind] = text
        elif row.choice == OWN:
            found[row.kind] = text
        elif row.choice != DEFAULT:
            found[row.kind] = row.choice
    return found


def error_field(location: tuple[int | str, ...]) -> str | None:
    """The form field a `media_replies` validation error belongs to; None for other errors."""
    if len(location) >= 2 and location[0] == "media_replies":
        return choice_field(str(location[1]))
    return None
