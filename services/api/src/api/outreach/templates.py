"""Campaign message templates: `{{name}}`-style variables, rendered by Jinja2's sandbox.

The sandbox refuses attribute tricks (`{{ ''.__class__ }}`), and strict undefined makes a
variable a row lacks an error for that row instead of an empty string in a real message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment

# The longest text a campaign message may render to (WhatsApp allows far more; people read less).
MAX_RENDERED_CHARS = 4_096

_ENVIRONMENT = SandboxedEnvironment(
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=False,
    # No loops, no macros: templates are messages, not programs.
    extensions=[],
)


class TemplateInvalidError(ValueError):
    """The template itself cannot be compiled."""


class RowRenderError(ValueError):
    """The template does not render for one row."""


def _substitution_plan(source: str) -> tuple[tuple[bool, str], ...] | None:
    """The template as literal text and plain `{{ name }}` variables, when that is all it is.

    Such a template renders by concatenation with exactly Jinja's output (`str()` of each
    value, an error for a missing name) at a tenth of the cost; anything else (filters,
    expressions, tags) renders through the sandbox.
    """
    body = _ENVIRONMENT.parse(source).body
    plan: list[tuple[bool, str]] = []
    for node in body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                plan.append((False, child.data))
            elif isinstance(child, nodes.Name) and child.ctx == "load":
                plan.append((True, child.name))
            else:
                return None
    return tuple(plan)


class MessageTemplate:
    """A compiled campaign template."""

    def __init__(self, source: str) -> None:
        try:
            self._template = _ENVIRONMENT.from_string(source)
            self._plan = _substitution_plan(source)
        except TemplateError as error:
            raise TemplateInvalidError(str(error)) from error

    def _substitute(self, plan: tuple[tuple[bool, str], ...], variables: Mapping[str, Any]) -> str:
        parts: list[str] = []
        for is_name, text in plan:
            if not is_name:
                parts.append(text)
            elif text in variables:
                parts.append(str(variables[text]))
            else:
                raise RowRenderError(f"'{text}' is undefined")
        return "".join(parts)

    def render(self, variables: Mapping[str, Any]) -> str:
        """The message for one row (`RowRenderError` names what is missing or wrong)."""
        try:
            if self._plan is not None:
                text = self._substitute(self._plan, variables).strip()
            else:
                text = self._template.render(dict(variables)).strip()
        except TemplateError as error:
            raise RowRenderError(str(error)) from error
        except (TypeError, ValueError, ArithmeticError) as error:
            raise RowRenderError(f"{type(error).__name__}: {error}") from error
        if not text:
            raise RowRenderError("renders to an empty message")
        if len(text) > MAX_RENDERED_CHARS:
            raise RowRenderError(f"renders to {len(text)} characters (at most {MAX_RENDERED_CHARS})")
        if "\x00" in text:
            raise RowRenderError("renders to text with a NUL character")
        return text
