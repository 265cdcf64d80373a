"""Dashboard pieces that need no infrastructure: catalogs, status wording, the sandbox's parity
with the generator it previews."""

from __future__ import annotations

import json
import re
import string
import uuid
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.dashboard.i18n import LANGUAGES, catalog
from api.dashboard.instance_rows import instance_row, number_of
from api.dashboard.signin import safe_next
from api.domain_errors import DomainError
from api.instances.repository import Instance
from api.personas.repository import Persona
from api.personas.sandbox import PersonaSandbox, SandboxModel, Turn, model_from_environ, shape_reply
from api.personas.sandbox import offline_reply as sandbox_offline_reply
from api.personas.sandbox import system_prompt as sandbox_system_prompt
from generator.fixed_texts import first_name
from generator.fixed_texts import offline_reply as generator_offline_reply
from generator.persona import Persona as GeneratorPersona
from generator.prompt import system_prompt as generator_system_prompt
from generator.reply_style import style_reply

PACKAGE = Path(str(resources.files("api.dashboard")))
NOW = datetime.now(UTC)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_has_every_message_with_the_same_placeholders() -> None:
    reference = catalog("en")
    for language in LANGUAGES:
        messages = catalog(language)
        assert set(messages) == set(reference), language
        for key, text in messages.items():
            assert placeholders(text) == placeholders(reference[key]), (language, key)


def test_every_message_the_templates_and_scripts_name_exists() -> None:
    keys = set(catalog("en"))
    named: set[str] = set()
    for template in (PACKAGE / "templates").glob("*.html"):
        found = re.findall(r"""\bt\(\s*'([a-z_.]+)'""", template.read_text())
        named |= {key for key in found if not key.endswith(".")}  # a prefix completed at run time
    for script in (PACKAGE / "static").glob("*.js"):
        found = re.findall(r'\bt\(\s*"([a-z_.]+)"', script.read_text())
        named |= {key for key in found if not key.endswith(".")}
    assert named, "no message names found"
    assert named <= keys, sorted(named - keys)


def test_the_pinned_english_labels() -> None:
    en = catalog("en")
    assert (en["login.api_key"], en["login.submit"]) == ("API key", "Sign in")
    assert (en["instances.new"], en["create.name"]) == ("New instance", "Instance name")
    assert "QR" in en["qr.alt"]
    assert en["qr.done_title"] == "Connected"
    assert en["instances.state.connected"] == "Connected"
    # Nothing shown before the scan may read as "connected".
    for key in ("qr.title", "qr.steps", "qr.loading", "qr.expires_in", "qr.refreshing", "qr.alt"):
        assert "connected" not in en[key].lower(), key


def instance(state: str, reason: str | None = None, *, stopped: bool = False) -> Instance:
    return Instance(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        name="loja",
        integration="WHATSAPP-BAILEYS",
        evolution_instance_id=None,
        token=None,
        webhook_auth="jwt",
        webhook_secret="s",
        state=state,
        state_reason=reason,
        state_changed_at=NOW,
        sending_stopped=stopped,
        qr_code=None,
        qr_base64=None,
        pairing_code=None,
        qr_expires_at=None,
        owner_jid="5511999990001:3@s.whatsapp.net",
        profile_name=None,
        persona_id=None,
        reply_to_groups=False,
        reply_to_broadcasts=False,
        created_at=NOW,
        updated_at=NOW,
    )


@pytest.mark.parametrize(
    ("state", "reason", "stopped", "label", "qr", "disconnect"),
    [
        ("open", "qr_issued", False, "instances.state.open", True, False),
        ("expired", "qr_expired", False, "instances.state.expired", True, False),
        ("connected", "paired", False, "instances.state.connected", False, True),
        ("disconnected", "logged_out", False, "instances.state.needs_qr", True, True),
        ("disconnected", "likely_banned", True, "instances.state.banned", True, True),
        ("disconnected", "connection_lost", False, "instances.state.disconnected", True, True),
        ("closed", "operator_logout", False, "instances.state.closed", True, False),
    ],
)
def test_instance_states_in_plain_words(
    state: str, reason: str, stopped: bool, label: str, qr: bool, disconnect: bool
) -> None:
    row = instance_row(instance(state, reason, stopped=stopped))
    assert (row.label_key, row.can_show_qr, row.can_disconnect) == (label, qr, disconnect)
    assert row.number == "5511999990001"
    assert row.explain_key is None or row.explain_key in catalog("en")


def test_number_of_a_jid() -> None:
    assert number_of(None) is None
    assert number_of("5511999990001@s.whatsapp.net") == "5511999990001"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "/"),
        ("/ui/personas", "/ui/personas"),
        ("//evil.example", "/"),
        ("https://evil.example", "/"),
        ("/\\evil", "/"),
        ("/ui/api/events", "/"),
    ],
)
def test_only_local_pages_follow_a_sign_in(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected


# --- the persona sandbox ---------------------------------------------------------------------


def personas(**values: Any) -> tuple[Persona, GeneratorPersona]:
    fields: dict[str, Any] = {
        "name": "Bia",
        "system_prompt": "Você é a Bia.",
        "language": "pt-BR",
        "max_length": 120,
        "emoji": False,
        "temperature": 0.4,
        "model": None,
    }
    fields.update(values)
    api_persona = Persona(id=uuid.uuid4(), tenant_id=uuid.uuid4(), created_at=NOW, updated_at=NOW, **fields)
    return api_persona, GeneratorPersona(id=api_persona.id, **fields)


@pytest.mark.parametrize("emoji", [True, False])
@pytest.mark.parametrize("language", ["pt-BR", "en", "xx"])
def test_the_sandbox_prompt_is_the_generators(emoji: bool, language: str) -> None:
    mine, theirs = personas(emoji=emoji, language=language)
    for person in (None, "Ana Souza"):
        assert sandbox_system_prompt(mine, 3, person) == generator_system_prompt(theirs, 3, person)


@pytest.mark.parametrize(
    "text",
    [
        "Olá! 😀 Tudo bem?\n\n\n\nAbrimos às 9h. **Sábado** também.\n\nAté logo 👋",
        "Uma frase bem longa " * 20,
        "Primeira.\n\nSegunda.\n\nTerceira.\n\nQuarta.",
    ],
)
@pytest.mark.parametrize("emoji", [True, False])
def test_the_sandbox_shapes_replies_as_the_generator(text: str, emoji: bool) -> None:
    mine, theirs = personas(emoji=emoji)
    styled = style_reply(text, theirs, 3)
    assert shape_reply(text, mine, 3) == (styled.text, styled.parts)


def test_the_offline_reply_is_the_generators() -> None:
    for texts, name in ((["oi", "tudo bem?"], "ana souza"), ([], None), (["x" * 300], "Dr. 123")):
        assert sandbox_offline_reply(texts, name) == generator_offline_reply(texts, first_name(name))


def test_model_settings_follow_the_generators_variables() -> None:
    assert model_from_environ({}) is None
    shared = model_from_environ({"MIRAGE_MODEL__BASE_URL": "http://shared/v1/"})
    assert shared is not None
    assert (shared.base_url, shared.api_key, shared.model) == ("http://shared/v1", None, "gpt-4o-mini")
    chosen = model_from_environ(
        {
            "MIRAGE_MODEL__BASE_URL": "http://shared/v1",
            "MIRAGE_GENERATOR_MODEL__BASE_URL": "http://generator/v1",
            "MIRAGE_GENERATOR_MODEL__MODEL": "g-model",
            "MIRAGE_API_SANDBOX_MODEL__BASE_URL": "http://sandbox/v1",
            "OPENAI_API_KEY": "sk-openai",
        }
    )
    assert chosen == SandboxModel(
        api_key="sk-openai", base_url="http://sandbox/v1", model="g-model", timeout_s=30.0
    )
    assert model_from_environ({"OPENAI_API_KEY": "k", "MIRAGE_GENERATOR_MODEL__OFFLINE": "true"}) is None


async def test_the_sandbox_asks_the_model_and_stores_nothing() -> None:
    seen: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(
            {"url": str(request.url), "auth": request.headers["authorization"], **json.loads(request.content)}
        )
        return httpx.Response(
            200, json={"model": "m-1", "choices": [{"message": {"content": "Oi! 😀\n\nAbrimos 9h."}}]}
        )

    sandbox = PersonaSandbox(
        SandboxModel(api_key="sk", base_url="http://model/v1", model="default", timeout_s=5),
        transport=httpx.MockTransport(answer),
    )
    persona, _ = personas(emoji=False, model="persona-model")
    reply = await sandbox.reply(
        persona,
        [Turn("contact", "oi"), Turn("persona", "olá"), Turn("contact", "abre?"), Turn("contact", "sábado")],
        "Ana",
    )
    assert reply.parts == ("Oi!", "Abrimos 9h.")
    assert (reply.model, reply.offline) == ("m-1", False)
    request = seen[0]
    assert request["url"] == "http://model/v1/chat/completions"
    assert request["auth"] == "Bearer sk"
    assert request["model"] == "persona-model"
    assert [m["role"] for m in request["messages"]] == ["system", "user", "assistant", "user"]
    assert request["messages"][-1]["content"] == "abre?\nsábado"

    failing = PersonaSandbox(
        SandboxModel(api_key=None, base_url="http://model/v1", model="m", timeout_s=5),
        transport=httpx.MockTransport(lambda _: httpx.Response(503)),
    )
    with pytest.raises(DomainError) as raised:
        await failing.reply(persona, [Turn("contact", "oi")], None)
    assert raised.value.code == "model_unavailable"
    with pytest.raises(DomainError):
        await sandbox.reply(persona, [Turn("contact", "oi"), Turn("persona", "olá")], None)
