"""The persona form's media-replies section, without infrastructure: fields ↔ `MediaReplies`."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.dashboard.i18n import LANGUAGES, catalog
from api.dashboard.persona_media import (
    CHOICE_KINDS,
    CHOICES,
    TEXT_KINDS,
    error_field,
    posted_media_replies,
    rows_from_form,
    rows_from_stored,
)
from api.personas.schemas import MediaReplies


def test_every_kind_and_choice_is_worded_in_every_language() -> None:
    for language in LANGUAGES:
        messages = catalog(language)
        for kind in (*CHOICE_KINDS, *TEXT_KINDS):
            assert f"persona.media.kind.{kind}" in messages, (language, kind)
        for choice in CHOICES:
            assert f"persona.media.choice.{choice}" in messages, (language, choice)


def test_the_kinds_are_exactly_the_api_s() -> None:
    assert set(CHOICE_KINDS) | set(TEXT_KINDS) == set(MediaReplies.model_fields)


def test_a_posted_section_becomes_the_media_replies_it_says() -> None:
    fields = {
        "media_video": "silence",
        "media_document": "own",
        "media_document_text": "  Recebi seu documento!\r\nVou ler.  ",
        "media_location": "acknowledge",
        "media_contact": "default",
        "media_contact_text": "ignored while the choice is the default",
        "media_sticker": "nonsense",  # an unknown choice is the default
        "media_audio_fallback": " Não consegui ouvir seu áudio. Pode escrever? ",
        "media_image_fallback": "   ",
    }
    posted = posted_media_replies(fields)
    assert posted == {
        "video": "silence",
        "document": "Recebi seu documento!\nVou ler.",
        "location": "acknowledge",
        "audio_fallback": "Não consegui ouvir seu áudio. Pode escrever?",
    }
    assert MediaReplies.model_validate(posted).stored() == posted


def test_a_stored_persona_shows_its_choices_and_saving_them_unchanged_keeps_them() -> None:
    stored = {
        "video": "silence",
        "sticker": "acknowledge",
        "other": "Só leio texto por aqui 🙂",
        "image_fallback": "Não abriu a imagem.",
    }
    rows = {row.kind: row for row in rows_from_stored(stored)}
    assert (rows["video"].choice, rows["sticker"].choice, rows["document"].choice) == (
        "silence",
        "acknowledge",
        "default",
    )
    assert (rows["other"].choice, rows["other"].text) == ("own", "Só leio texto por aqui 🙂")
    assert (rows["image_fallback"].choice, rows["image_fallback"].text) == (None, "Não abriu a imagem.")
    fields = {}
    for row in rows.values():
        if row.choice is not None:
            fields[row.choice_name] = row.choice
        fields[row.text_name] = row.text
    assert posted_media_replies(fields) == stored
    assert [row.kind for row in rows_from_form(fields)] == [*CHOICE_KINDS, *TEXT_KINDS]


@pytest.mark.parametrize("text", ["", "   ", "silent"], ids=["empty", "blank", "misspelt-behaviour"])
def test_an_own_text_that_is_not_a_reply_is_refused_under_its_kind(text: str) -> None:
    posted = posted_media_replies({"media_video": "own", "media_video_text": text})
    with pytest.raises(ValidationError) as refused:
        MediaReplies.model_validate(posted)
    [error] = refused.value.errors()
    assert error_field(("media_replies", *error["loc"])) == "media_video"


def test_errors_outside_the_section_are_not_its_own() -> None:
    assert error_field(("name",)) is None
    assert error_field(("media_replies",)) is None
    assert error_field(("media_replies", "audio_fallback")) == "media_audio_fallback"
