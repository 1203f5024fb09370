"""schemathesis hooks for .ci/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

POST /v1/report-abuse/{room} takes a TLS-encoded MIMI AbuseReport as
application/mimi-abuse-report, a media type schemathesis has no serializer
for: without one it reports the operation as "serialization not possible"
instead of testing it. Its body is bytes (`format: binary`), so the
octet-stream serializer sends what schemathesis generates unchanged.
"""

import schemathesis

schemathesis.serializer.alias("application/mimi-abuse-report", "application/octet-stream")
