import io
import json
import os
import sys

from fdk import response


def handler(ctx, data: io.BytesIO = None):
    body = data.getvalue().decode("utf-8") if data else ""
    headers = dict(ctx.HTTPHeaders() or {})
    print("echo stdout for " + str(ctx.CallID()))
    print("echo stderr for " + str(ctx.CallID()), file=sys.stderr)
    status = int(headers.get("x-want-status", "200"))
    result = {
        "method": ctx.Method(),
        "url": ctx.RequestURL(),
        "headers": headers,
        "body": body,
        "call_id": ctx.CallID(),
        "content_type": ctx.Headers().get("content-type"),
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "env": {k: v for k, v in os.environ.items()
                if k.startswith("FN_") or k in ("GREETING", "OVERRIDDEN", "FROM_GATEWAY")},
    }
    return response.Response(
        ctx,
        response_data=json.dumps(result),
        headers={"Content-Type": "application/json", "X-Echo": "yes"},
        status_code=status,
    )
