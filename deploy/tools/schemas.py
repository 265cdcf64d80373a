"""Prepare JSON schemas for offline validation with kubeconform.

`rewrite-refs DIR`: the Kubernetes schemas bundled by PyPI's kubernetes-validate refer to
their shared definitions as `/api/_definitions.json#...`; kubeconform resolves a `$ref` like a
URL, so they become `file://` URLs to the copy in DIR.

`crds-to-schemas CRD_DIR OUT_DIR`: each served version of each CustomResourceDefinition becomes
`OUT_DIR/<group>/<kind>_<version>.json` (lower-case kind), the layout kubeconform's
`{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json` template reads. Objects that
declare their properties get `additionalProperties: false`, so an unknown or misspelt field fails
validation the way the API server's strict field validation rejects it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

REF_PREFIX = "/api/_definitions.json"


def rewrite_refs(directory: Path) -> int:
    """Point every `$ref` of the schemas in `directory` at the local `_definitions.json`."""
    target = (directory / "_definitions.json").resolve().as_uri()
    count = 0
    for path in directory.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        if REF_PREFIX in text:
            path.write_text(text.replace(f'"{REF_PREFIX}', f'"{target}'), encoding="utf-8")
            count += 1
    return count


def _tighten(schema: Any) -> Any:
    """A copy of an OpenAPI v3 CRD schema as JSON Schema, closed to unknown properties."""
    if isinstance(schema, list):
        return [_tighten(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _tighten(value) for key, value in schema.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        for key in ("type", "anyOf"):
            out.pop(key, None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    preserves_unknown = out.get("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserves_unknown:
        out["additionalProperties"] = False
    return out


def crds_to_schemas(crd_dir: Path, out_dir: Path) -> int:
    """Write one JSON schema per CRD version found in `crd_dir`; returns how many."""
    count = 0
    for path in sorted(crd_dir.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            group, kind = spec["group"], spec["names"]["kind"].lower()
            for version in spec["versions"]:
                schema = _tighten(version["schema"]["openAPIV3Schema"])
                # apiVersion and kind are implicit in a CRD schema but always present in objects.
                schema.setdefault("properties", {}).update(
                    {"apiVersion": {"type": "string"}, "kind": {"type": "string"}}
                )
                target = out_dir / group / f"{kind}_{version['name']}.json"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(json.dumps(schema, indent=1), encoding="utf-8")
                count += 1
    if count == 0:
        raise SystemExit(f"no CustomResourceDefinition found under {crd_dir}")
    return count


def main(argv: list[str]) -> int:
    """Command-line entry point (see the module docstring); reports go to stderr."""
    match argv:
        case ["rewrite-refs", directory]:
            sys.stderr.write(f"rewrote $refs in {rewrite_refs(Path(directory))} schemas\n")
        case ["crds-to-schemas", crd_dir, out_dir]:
            written = crds_to_schemas(Path(crd_dir), Path(out_dir))
            sys.stderr.write(f"wrote {written} CRD version schemas\n")
        case _:
            sys.stderr.write(f"{__doc__}\n")
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
