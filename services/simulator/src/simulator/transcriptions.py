"""An OpenAI-compatible `/v1/audio/transcriptions` with deterministic transcripts.

A voice note the simulator delivered carries its transcript in its bytes (`simulator.media`),
so the same audio always gives the same words; other audio gets a fixed placeholder.
Latency and failures come from the `transcriptions` fault target.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import PlainTextResponse, Response

from simulator.media import transcript_in
from simulator.messages import iso_utc, now_utc
from simulator.settings import SimulatorSettings
from simulator.state import SimulatorState
from simulator.wire import JsonResponse

UNRECOGNISED_AUDIO = "(áudio sem fala reconhecível)"
_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
# Whisper's limit on uploads.
MAX_UPLOAD_BYTES = 25 * 1024 * 1024


@dataclass(frozen=True)
class _Upload:
    fields: dict[str, str]
    file_name: str | None
    file: bytes | None


def _openai_error(status: int, message: str, kind: str, param: str | None = None) -> JsonResponse:
    return JsonResponse(
        {"error": {"message": message, "type": kind, "param": param, "code": None}}, status_code=status
    )


def _parse_multipart(content_type: str, body: bytes) -> _Upload | None:
    """The form fields and the `file` part of a multipart/form-data body (None when it is not one)."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    document = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(document)
    if not message.is_multipart():
        return None
    fields: dict[str, str] = {}
    file_name: str | None = None
    file: bytes | None = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name == "file":
            file = data
            file_name = part.get_filename()
        else:
            fields[name] = data.decode("utf-8", errors="replace")
    return _Upload(fields=fields, file_name=file_name, file=file)


def transcriptions_router(settings: SimulatorSettings, state: SimulatorState) -> APIRouter:
    """`POST /v1/audio/transcriptions` (any Bearer token, or none)."""
    router = APIRouter(prefix="/v1", tags=["openai"])

    @router.post("/audio/transcriptions", response_model=None)
    async def transcriptions(request: Request) -> Response:
        """The transcript of the uploaded audio (`response_format` json, text or verbose_json)."""
        body = await request.body()
        if len(body) > MAX_UPLOAD_BYTES:
            return _openai_error(
                413, "Maximum content size limit (26214400) exceeded.", "invalid_request_error"
            )
        upload = _parse_multipart(request.headers.get("content-type", ""), body)
        if upload is None:
            return _openai_error(400, "Expected a multipart/form-data body.", "invalid_request_error")
        if not upload.file:
            return _openai_error(400, "you must provide a file", "invalid_request_error", "file")
        if not upload.fields.get("model"):
            return _openai_error(400, "you must provide a model parameter", "invalid_request_error", "model")
        response_format = upload.fields.get("response_format") or "json"
        if response_format not in _FORMATS:
            return _openai_error(
                400, f"'{response_format}' is not one of {list(_FORMATS)}", "invalid_request_error"
            )

        faults = state.faults
        failure = faults.take_failure("transcriptions")
        latency = settings.transcription_latency_ms / 1000 + faults.latency_s("transcriptions")
        if latency > 0:
            await asyncio.sleep(latency)
        text = transcript_in(upload.file) or UNRECOGNISED_AUDIO
        state.transcriptions.append(
            {
                "model": upload.fields["model"],
                "language": upload.fields.get("language"),
                "file_name": upload.file_name,
                "bytes": len(upload.file),
                "status": failure.status if failure is not None else 200,
                "text": None if failure is not None else text,
                "at": iso_utc(now_utc()),
            }
        )
        if failure is not None:
            kind = "server_error" if failure.status >= 500 else "invalid_request_error"
            return _openai_error(failure.status, failure.message, kind)
        if response_format in ("text", "srt", "vtt"):
            return PlainTextResponse(text + "\n")
        if response_format == "verbose_json":
            duration = round(len(upload.file) / 2_000, 2)
            return JsonResponse(
                {
                    "task": "transcribe",
                    "language": upload.fields.get("language") or "portuguese",
                    "duration": duration,
                    "text": text,
                    "segments": [
                        {"id": 0, "seek": 0, "start": 0.0, "end": duration, "text": " " + text, "tokens": []}
                    ],
                }
            )
        return JsonResponse({"text": text})

    return router
