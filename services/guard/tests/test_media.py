"""The guard's media step: voice notes become text before the decision (docs/media.md)."""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from contracts import GenerateReply, MediaInfo, MessageCategory, MessageReceived
from database import Pool
from evolution_client import EvolutionSettings
from guard.debounce import DebounceStore
from guard.loop_counter import LoopCounter
from guard.media_fetch import FetchedMedia, MediaFetcher, MediaRejected, MediaUnavailable
from guard.media_understanding import MediaUnderstanding
from guard.redis_keys import GuardRedisKeys
from guard.service import Guard
from guard.settings import GuardPolicy, MediaSettings, TranscriptionSettings
from guard.transcription import TranscriptionFailed, build_transcriber
from messaging import Outbox
from redis_client import RedisSettings

from .conftest import RecordingRelay, decision_of, new_chat, staged_events, store_message

OGG = b"OggS\x00\x02" + b"\x00" * 40
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
VOICE = MediaInfo(kind="audio", mimetype="audio/ogg; codecs=opus", seconds=2, voice_note=True)


class FakeTranscriber:
    """Answers a fixed transcript, or fails, and counts the calls."""

    model = "whisper-test"

    def __init__(self, transcript: str | None) -> None:
        self.transcript = transcript
        self.calls: list[tuple[bytes, str]] = []

    async def transcribe(self, audio: bytes, mimetype: str) -> str:
        self.calls.append((audio, mimetype))
        if self.transcript is None:
            raise TranscriptionFailed("HTTP 500: simulated")
        return self.transcript

    async def close(self) -> None:
        return None


class FakeFetcher(MediaFetcher):
    """Hands over fixed bytes without any HTTP."""

    def __init__(self, data: bytes = OGG, problem: Exception | None = None) -> None:
        super().__init__(MediaSettings(), EvolutionSettings())
        self.data = data
        self.problem = problem
        self.calls = 0

    async def fetch(
        self, media: MediaInfo, *, instance_name: str, provider_message_id: str, inline_base64: str | None
    ) -> FetchedMedia:
        self.calls += 1
        if self.problem is not None:
            raise self.problem
        return self.check_fetched(media.kind, self.data, media.mimetype, "evolution")


# ------------------------------------------------------------------ fetching (no infrastructure)


def _fetcher(handler: Any, **settings: Any) -> MediaFetcher:
    fetcher = MediaFetcher(
        MediaSettings(fetch_backoff_s=0, **settings), EvolutionSettings(base_url="http://evo")
    )
    fetcher._client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return fetcher


def _evolution_answer(data: bytes, mimetype: str = "audio/ogg; codecs=opus") -> httpx.Response:
    return httpx.Response(
        201,
        json={"mediaType": "audioMessage", "mimetype": mimetype, "base64": base64.b64encode(data).decode()},
    )


async def test_media_is_fetched_from_evolution_with_retries_of_transient_failures() -> None:
    answers = [httpx.Response(503), httpx.Response(500), _evolution_answer(OGG)]
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return answers.pop(0)

    fetched = await _fetcher(handler).fetch(
        VOICE, instance_name="loja", provider_message_id="ABC", inline_base64=None
    )
    assert fetched.data == OGG
    assert (fetched.mimetype, fetched.source) == ("audio/ogg", "evolution")
    assert [str(r.url) for r in requests] == ["http://evo/chat/getBase64FromMediaMessage/loja"] * 3
    assert requests[0].headers["apikey"] == "sim-global-key"
    assert b'"id":"ABC"' in requests[0].content.replace(b" ", b"")


async def test_a_fetch_that_keeps_failing_is_unavailable_and_a_client_error_is_not_retried() -> None:
    calls = 0

    def down(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(502)

    with pytest.raises(MediaUnavailable, match="fetch_failed"):
        await _fetcher(down).fetch(VOICE, instance_name="loja", provider_message_id="A", inline_base64=None)
    assert calls == 3

    def unknown(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(400, json={"response": {"message": ["Message not found"]}})

    calls = 0
    with pytest.raises(MediaRejected, match="answered 400"):
        await _fetcher(unknown).fetch(
            VOICE, instance_name="loja", provider_message_id="A", inline_base64=None
        )
    assert calls == 1


async def test_sizes_mime_types_and_contents_are_checked_on_everything_fetched() -> None:
    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing should be fetched")

    fetcher = _fetcher(never, max_audio_bytes=100)
    with pytest.raises(MediaRejected, match="too_large"):
        await fetcher.fetch(
            MediaInfo(kind="audio", file_length=101),
            instance_name="l",
            provider_message_id="A",
            inline_base64=None,
        )
    with pytest.raises(MediaRejected, match="unsupported_mimetype"):
        await fetcher.fetch(
            MediaInfo(kind="audio", mimetype="application/x-msdownload"),
            instance_name="l",
            provider_message_id="A",
            inline_base64=None,
        )
    # The webhook's own base64 is used as is, and checked like anything fetched.
    inline = await fetcher.fetch(
        VOICE, instance_name="l", provider_message_id="A", inline_base64=base64.b64encode(OGG).decode()
    )
    assert inline.source == "webhook_base64"
    with pytest.raises(MediaRejected, match="content_mismatch"):
        await fetcher.fetch(
            VOICE, instance_name="l", provider_message_id="A", inline_base64=base64.b64encode(PNG).decode()
        )
    with pytest.raises(MediaRejected, match="too_large"):
        await fetcher.fetch(
            VOICE,
            instance_name="l",
            provider_message_id="A",
            inline_base64=base64.b64encode(OGG * 10).decode(),
        )

    def lying(request: httpx.Request) -> httpx.Response:
        return _evolution_answer(OGG, mimetype="text/html")

    with pytest.raises(MediaRejected, match="unsupported_mimetype: text/html"):
        await _fetcher(lying).fetch(
            MediaInfo(kind="audio"), instance_name="l", provider_message_id="A", inline_base64=None
        )


def test_a_guard_without_transcription_never_loads_the_openai_sdk() -> None:
    # 0.7 s of start-up and about 14 MB per replica (`guard.openai_transcriber` loads it).
    probe = (
        "import sys, guard.app;"
        "from guard.transcription import build_transcriber;"
        "from guard.settings import TranscriptionSettings;"
        "assert build_transcriber(TranscriptionSettings(), {}) is None;"
        "print('openai' in sys.modules)"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False", loaded.stderr


def test_no_endpoint_no_transcriber() -> None:
    assert build_transcriber(TranscriptionSettings(), {}) is None
    assert build_transcriber(TranscriptionSettings(enabled=False), {"OPENAI_API_KEY": "sk"}) is None
    assert build_transcriber(TranscriptionSettings(base_url="http://sim/v1"), {}) is not None
    assert build_transcriber(TranscriptionSettings(), {"OPENAI_API_KEY": "sk-x"}) is not None


# ------------------------------------------------------------------ the step in the guard (real database)


def _guard_with_media(
    pool: Pool,
    redis: Redis,
    redis_settings: RedisSettings,
    *,
    transcriber: FakeTranscriber | None,
    fetcher: FakeFetcher | None = None,
    debounce_window_ms: int = 0,
) -> tuple[Guard, RecordingRelay, str]:
    producer = f"guard-media-{uuid.uuid4().hex[:8]}"
    policy = GuardPolicy(debounce_window_ms=debounce_window_ms)
    keys = GuardRedisKeys(redis_settings)
    media = MediaUnderstanding(
        settings=MediaSettings(), fetcher=fetcher or FakeFetcher(), transcriber=transcriber, pool=pool
    )
    relay = RecordingRelay()
    guard = Guard(policy=policy, outbox=Outbox(producer), media=media)
    guard.bind(
        pool=pool,
        relay=relay,
        loop_counter=LoopCounter(redis, keys, ttl_s=policy.loop_counter_ttl_s),
        debounce=DebounceStore(
            redis,
            keys,
            window_ms=policy.debounce_window_ms,
            max_wait_ms=policy.debounce_max_wait_ms,
            lease_ms=policy.claim_lease_ms,
        ),
    )
    return guard, relay, producer


def _with_media(event: MessageReceived, media: MediaInfo) -> MessageReceived:
    return event.model_copy(update={"data": event.data.model_copy(update={"media": media})})


async def _media_row(pool: Pool, message_id: uuid.UUID) -> Any:
    return await pool.fetchrow("SELECT * FROM message_media WHERE message_id = $1", message_id)


async def test_pare_spoken_opts_out_and_a_redelivery_transcribes_nothing_again(
    db_pool: Pool, redis: Redis, redis_settings: RedisSettings
) -> None:
    transcriber = FakeTranscriber("Pare!")
    guard, _, producer = _guard_with_media(db_pool, redis, redis_settings, transcriber=transcriber)
    chat = await new_chat(db_pool)
    event = _with_media(await store_message(db_pool, chat, None, message_type="audioMessage"), VOICE)
    await guard.on_message_received(event)
    await guard.on_message_received(event)
    decided = await decision_of(db_pool, event.data.message_id)
    assert decided is not None
    assert decided[:2] == ("opted_out", "opt_out_keyword")
    assert len(transcriber.calls) == 1
    row = await _media_row(db_pool, event.data.message_id)
    assert (row["status"], row["transcript"], row["transcript_source"]) == (
        "transcribed",
        "Pare!",
        "transcription",
    )
    assert row["content"] == OGG
    assert row["content_expires_at"] is not None
    events = await staged_events(db_pool, producer, chat.tenant_id)
    assert [e.type for e in events].count("contact.opted_out") == 1


async def test_a_failed_transcription_is_recorded_and_decided_without_text(
    db_pool: Pool, redis: Redis, redis_settings: RedisSettings
) -> None:
    transcriber = FakeTranscriber(None)
    guard, _, producer = _guard_with_media(db_pool, redis, redis_settings, transcriber=transcriber)
    chat = await new_chat(db_pool)
    event = _with_media(await store_message(db_pool, chat, None, message_type="audioMessage"), VOICE)
    await guard.on_message_received(event)
    await guard.on_message_received(event)
    assert len(transcriber.calls) == 1
    row = await _media_row(db_pool, event.data.message_id)
    assert row["status"] == "failed"
    assert row["failure_reason"] == "transcription_failed: HTTP 500: simulated"
    [request] = [
        e for e in await staged_events(db_pool, producer, chat.tenant_id) if e.type == "reply.requested"
    ]
    assert isinstance(request, GenerateReply)
    assert request.data.without_text is True


async def test_evolutions_speech_to_text_is_used_without_a_call_and_no_endpoint_means_the_fallback(
    db_pool: Pool, redis: Redis, redis_settings: RedisSettings
) -> None:
    transcriber = FakeTranscriber("never used")
    fetcher = FakeFetcher()
    guard, _, _ = _guard_with_media(db_pool, redis, redis_settings, transcriber=transcriber, fetcher=fetcher)
    chat = await new_chat(db_pool)
    spoken = await store_message(
        db_pool, chat, "qual o horário?", category=MessageCategory.AUDIO, message_type="audioMessage"
    )
    await guard.on_message_received(_with_media(spoken, VOICE.model_copy(update={"transcribed": True})))
    row = await _media_row(db_pool, spoken.data.message_id)
    assert (row["status"], row["transcript_source"], row["content"]) == ("transcribed", "evolution", None)
    assert (transcriber.calls, fetcher.calls) == ([], 0)

    unconfigured, _, _ = _guard_with_media(db_pool, redis, redis_settings, transcriber=None, fetcher=fetcher)
    silent = _with_media(await store_message(db_pool, chat, None, message_type="audioMessage"), VOICE)
    await unconfigured.on_message_received(silent)
    row = await _media_row(db_pool, silent.data.message_id)
    assert (row["status"], row["failure_reason"]) == ("failed", "transcription_not_configured")
    assert fetcher.calls == 0


async def test_a_debounced_voice_note_counts_as_text_for_its_burst(
    db_pool: Pool, redis: Redis, redis_settings: RedisSettings
) -> None:
    guard, _, _ = _guard_with_media(
        db_pool,
        redis,
        redis_settings,
        transcriber=FakeTranscriber("vocês abrem sábado?"),
        debounce_window_ms=1_000,
    )
    chat = await new_chat(db_pool)
    event = _with_media(await store_message(db_pool, chat, None, message_type="audioMessage"), VOICE)
    await guard.on_message_received(event)
    reply = await guard.answer_burst(chat.conversation_id, [event.data.message_id])
    assert reply is not None
    assert reply.data.without_text is False


async def test_an_uncaptioned_image_is_stored_for_vision_and_a_rejected_one_recorded(
    db_pool: Pool, redis: Redis, redis_settings: RedisSettings
) -> None:
    image = MediaInfo(kind="image", mimetype="image/png")
    guard, _, _ = _guard_with_media(
        db_pool, redis, redis_settings, transcriber=None, fetcher=FakeFetcher(PNG)
    )
    chat = await new_chat(db_pool)
    event = _with_media(
        await store_message(db_pool, chat, None, category=MessageCategory.MEDIA, message_type="imageMessage"),
        image,
    )
    await guard.on_message_received(event)
    row = await _media_row(db_pool, event.data.message_id)
    assert (row["kind"], row["status"], row["content"]) == ("image", "stored", PNG)

    refused, _, _ = _guard_with_media(
        db_pool,
        redis,
        redis_settings,
        transcriber=None,
        fetcher=FakeFetcher(problem=MediaRejected("too_large: 9 MB")),
    )
    other = _with_media(
        await store_message(db_pool, chat, None, category=MessageCategory.MEDIA, message_type="imageMessage"),
        image,
    )
    await refused.on_message_received(other)
    row = await _media_row(db_pool, other.data.message_id)
    assert (row["status"], row["failure_reason"]) == ("failed", "too_large: 9 MB")
    assert await decision_of(db_pool, other.data.message_id) is not None


async def test_expired_bytes_are_swept_and_the_transcript_kept(
    db_pool: Pool, redis: Redis, redis_settings: RedisSettings
) -> None:
    transcriber = FakeTranscriber("oi")
    guard, _, _ = _guard_with_media(db_pool, redis, redis_settings, transcriber=transcriber)
    chat = await new_chat(db_pool)
    event = _with_media(await store_message(db_pool, chat, None, message_type="audioMessage"), VOICE)
    await guard.on_message_received(event)
    await db_pool.execute(
        "UPDATE message_media SET content_expires_at = now() - interval '1 second' WHERE message_id = $1",
        event.data.message_id,
    )
    media = MediaUnderstanding(
        settings=MediaSettings(), fetcher=FakeFetcher(), transcriber=None, pool=db_pool
    )
    assert await media.expire() >= 1
    row = await _media_row(db_pool, event.data.message_id)
    assert (row["content"], row["transcript"]) == (None, "oi")
