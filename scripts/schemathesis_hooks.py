"""Schemathesis hooks for intervene (loaded by scripts/schemathesis.sh).

`POST /v1/evaluate/batch` and `POST /v1/students/import` take NDJSON: one JSON value a
line. Schemathesis has no serializer for those media types, so this one writes a
generated list as one line per item, and any other value as one line.
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson", "application/jsonl")
def ndjson(ctx, value):
    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(item) + "\n" for item in items).encode()
