"""Reading a campaign's CSV upload: the multipart form (stdlib `email`, no extra dependency) and
the file itself, with a clear reason for every file that cannot be used (never a 500).

A campaign file is UTF-8 CSV (comma, semicolon or tab separated, as spreadsheets save it) with a
header line naming a `phone` column (or `telefone`, `celular`, `whatsapp`, `número`); every other
column is a template variable named as its header. Blank lines are skipped; empty cells are left
out of the row's variables (so a template that needs them reports the row).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP

from starlette.requests import Request

from api.outreach.schemas import MAX_CONTACTS
from api.settings import BodyLimitSettings

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
# Room the form's other fields and the multipart framing take besides the file.
FORM_MARGIN_BYTES = 64 * 1024
UPLOAD_PATH = "/ui/campaigns/new"
MAX_ROWS = MAX_CONTACTS
PHONE_COLUMNS = ("phone", "telefone", "celular", "whatsapp", "número", "numero", "fone")
_DELIMITERS = (",", ";", "\t")


class UploadError(Exception):
    """The upload cannot be used; `code` names a catalog message (`campaign.csv.<code>`)."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass
class Upload:
    """A multipart form: its text fields (every value of each name) and its files."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        """The last value of `name`."""
        values = self.fields.get(name)
        return values[-1] if values else default

    def all(self, name: str) -> list[str]:
        """Every value of `name` (checkboxes, multiple selects)."""
        return list(self.fields.get(name, []))


def upload_limit(body_limits: BodyLimitSettings) -> int:
    """The largest campaign file: 5 MB, or less when the api's body limit for the upload's path
    (`MIRAGE_API_BODY_LIMIT__BY_PATH`, else its default) leaves less room."""
    request_limit = body_limits.by_path.get(UPLOAD_PATH, body_limits.default_bytes)
    return max(0, min(MAX_UPLOAD_BYTES, request_limit - FORM_MARGIN_BYTES))


def size_text(size: int) -> str:
    """`5 MB`, `960 KB`."""
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MB"
    return f"{size // 1024} KB"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or UploadError `too_large` once the file cannot be under `limit` (the
    rest of the body is drained, not kept)."""
    declared = request.headers.get("content-length", "")
    too_large = declared.isdigit() and int(declared) > limit + FORM_MARGIN_BYTES
    body = bytearray()
    async for chunk in request.stream():
        if not too_large:
            body += chunk
            too_large = len(body) > limit + FORM_MARGIN_BYTES
    if too_large:
        raise UploadError("too_large", size=size_text(limit))
    return bytes(body)


def parse_multipart(content_type: str, body: bytes) -> Upload:
    """The fields and files of a `multipart/form-data` body."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise UploadError("not_multipart")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise UploadError("unreadable")
    upload = Upload()
    for part in message.iter_parts():
        if not isinstance(part, EmailMessage):
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            upload.files[name] = (filename, data)
        else:
            upload.fields.setdefault(name, []).append(data.decode("utf-8", "replace"))
    return upload


@dataclass(frozen=True)
class ParsedCsv:
    """The contacts of a campaign file and the file line each came from."""

    contacts: list[dict[str, object]]
    lines: list[int]
    columns: list[str]
    phone_column: str


def _decoded(data: bytes) -> str:
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise UploadError("spreadsheet")
    if b"\x00" in data[:4096]:
        raise UploadError("binary")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise UploadError("encoding", line=line) from None


def _delimiter(header: str) -> str:
    counts = {delimiter: header.count(delimiter) for delimiter in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def parse_contacts_csv(data: bytes, *, max_rows: int = MAX_ROWS) -> ParsedCsv:
    """The contacts of a campaign's CSV file (UploadError with the reason when it cannot be used)."""
    if not data.strip():
        raise UploadError("empty")
    text = _decoded(data)
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line), strict=True)
    try:
        header: list[str] | None = None
        for cells in reader:
            if any(cell.strip() for cell in cells):
                header = [cell.strip() for cell in cells]
                break
        if header is None:
            raise UploadError("empty")
        lowered = [name.lower() for name in header]
        phone_index = next((lowered.index(name) for name in PHONE_COLUMNS if name in lowered), None)
        if phone_index is None:
            shown = ", ".join(name for name in header if name)[:200] or "—"
            raise UploadError("missing_phone", columns=shown)
        seen: set[str] = set()
        for name in lowered:
            if name and name in seen:
                raise UploadError("duplicate_column", column=name)
            seen.add(name)
        variables = [(index, name) for index, name in enumerate(header) if name and index != phone_index]
        contacts: list[dict[str, object]] = []
        lines: list[int] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(contacts) >= max_rows:
                raise UploadError("too_many_rows", limit=max_rows)
            phone = cells[phone_index].strip() if phone_index < len(cells) else ""
            row_variables = {
                name: cells[index].strip()
                for index, name in variables
                if index < len(cells) and cells[index].strip()
            }
            contacts.append({"phone": phone, "variables": row_variables})
            lines.append(reader.line_num)
    except csv.Error as error:
        raise UploadError("malformed", line=reader.line_num, message=str(error)[:120]) from None
    if not contacts:
        raise UploadError("no_rows")
    return ParsedCsv(contacts=contacts, lines=lines, columns=header, phone_column=header[phone_index])
