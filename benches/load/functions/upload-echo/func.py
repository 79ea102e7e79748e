# The function of benches/load/upload-memory.sh: reads the whole upload, as a real function
# would, and answers with its size and digest rather than the bytes themselves, so that the
# benchmark measures what the gateway holds of request bodies, not of responses.
import hashlib
import io
import json

from fdk import response


def handler(ctx, data: io.BytesIO = None):
    body = data.getvalue() if data else b""
    return response.Response(
        ctx,
        response_data=json.dumps({"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}),
        headers={"Content-Type": "application/json"},
    )
