"""Images without a caption, described by a vision-capable chat model (docs/media.md).

The description joins the conversation as `[imagem: …]` in the person's turn, so the reply
model answers it like anything the person wrote. Configured apart from the reply model
(`MIRAGE_GENERATOR_VISION__MODEL`): unset, images without caption get the persona's fallback.
"""

from __future__ import annotations

import base64
import time

from openai import APIConnectionError, APIStatusError, AsyncOpenAI, OpenAIError
from openai.types.chat import ChatCompletion

from generator.settings import VisionEndpoint

KEYLESS_API_KEY = "no-key-configured"
_INSTRUCTIONS = {
    "pt": (
        "Descreva objetivamente, em português do Brasil e em no máximo duas frases, o que esta imagem "
        "enviada por um cliente no WhatsApp mostra. Transcreva textos visíveis importantes (preços, "
        "nomes, códigos). Não invente nada que não esteja na imagem."
    ),
    "en": (
        "Describe objectively, in at most two sentences, what this image a customer sent on WhatsApp "
        "shows. Transcribe important visible text (prices, names, codes). Do not invent anything."
    ),
    "es": (
        "Describe objetivamente, en español y en un máximo de dos frases, lo que muestra esta imagen "
        "que un cliente envió por WhatsApp. Transcribe textos visibles importantes. No inventes nada."
    ),
}


class VisionFailure(Exception):  # noqa: N818 - reads as what the call reports
    """No description, even after the SDK's retries."""


class VisionModel:
    """Describes one image through `/chat/completions` with an `image_url` part (a data URL)."""

    def __init__(self, endpoint: VisionEndpoint, client: AsyncOpenAI | None = None) -> None:
        self.endpoint = endpoint
        self.client = client or AsyncOpenAI(
            api_key=endpoint.api_key or KEYLESS_API_KEY,
            base_url=endpoint.base_url,
            timeout=endpoint.timeout_s,
            max_retries=endpoint.max_retries,
        )

    @property
    def model(self) -> str:
        """The vision model's name."""
        return self.endpoint.model

    async def describe(self, image: bytes, mimetype: str, language: str) -> tuple[str, int]:
        """A short description of `image` in `language`, and the call's latency in ms."""
        instructions = _INSTRUCTIONS.get(language.lower().split("-", 1)[0], _INSTRUCTIONS["pt"])
        url = f"data:{mimetype};base64,{base64.b64encode(image).decode()}"
        body = {
            "model": self.endpoint.model,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": instructions},
                        {"type": "image_url", "image_url": {"url": url, "detail": self.endpoint.detail}},
                    ],
                }
            ],
            "max_tokens": self.endpoint.max_tokens,
            "temperature": 0.2,
        }
        started = time.monotonic()
        try:
            completion = await self.client.post("/chat/completions", cast_to=ChatCompletion, body=body)
        except APIStatusError as error:
            raise VisionFailure(f"HTTP {error.status_code}: {str(error).splitlines()[0][:300]}") from error
        except APIConnectionError as error:
            raise VisionFailure(f"{type(error).__name__}: {str(error)[:300]}") from error
        except OpenAIError as error:
            raise VisionFailure(f"{type(error).__name__}: {str(error)[:300]}") from error
        choice = completion.choices[0] if completion.choices else None
        content = (choice.message.content if choice is not None else None) or ""
        if not content.strip():
            raise VisionFailure("empty description")
        return content.strip(), round((time.monotonic() - started) * 1000)

    async def close(self) -> None:
        """Close the SDK's connection pool."""
        await self.client.close()
