# An Fn Python function for the end-to-end tests. What it does depends on the request:
#   body "boom"          -> raises (the FDK answers 502)
#   body "exit"          -> the process dies mid-call
#   body "sleep:N"       -> sleeps N seconds before answering
#   header X-Status: N   -> answers with status N
# Otherwise it echoes what it received as JSON.
import io
import json
import os
import time

from fdk import response


def handler(ctx, data: io.BytesIO = None):
    body = data.getvalue() if data else b""
    if body == b"boom":
        raise ValueError("deliberate failure")
    if body == b"exit":
        os._exit(3)
    if body.startswith(b"sleep:"):
        time.sleep(float(body[6:]))
    headers = ctx.HTTPHeaders()
    status = int(headers.get("x-status", "200"))
    return response.Response(
        ctx,
        response_data=json.dumps({
            "method": ctx.Method(),
            "url": ctx.RequestURL(),
            "headers": headers,
            "content_type": ctx.Headers().get("content-type"),
            "body": body.decode("utf-8", "replace"),
            "pid": os.getpid(),
            "greeting": ctx.Config().get("GREETING", ""),
        }),
        headers={"Content-Type": "application/json", "X-Echo": "yes"},
        status_code=status,
    )
