# An OCI API Gateway authorizer function (Fn Python FDK) for the end-to-end tests.
#
# Input, as the gateway sends it (the plain invocation body):
#   {"type": "TOKEN", "token": "<raw header or query value>"}           single argument
#   {"type": "USER_DEFINED", "data": {"<argument>": "<value>", ...}}    multi-argument
# The credential is the token (a leading "Bearer " is stripped), or the "token" argument, or
# the "session" cookie of a "Cookie" argument. What it says decides the answer:
#   good:<scope>     active, with that scope, a principal, a client id and a context; the
#                    answer expires in an hour
#   brief:<scope>    the same, expiring in one second (the gateway keeps it at least 60 s)
#   deny             active: false with a wwwAuthenticate challenge
#   inactive         {} (active defaults to false)
#   refuse:<code>    active: false with context.responseCode = <code>
#   junk             an answer that is not JSON
#   raise            the function raises (the FDK reports an error)
#   slow             sleeps far past any timeout the tests configure
#   crash            the process dies mid-call
# Every invocation appends its input, as one JSON line, to the file named by the function's
# config key INVOCATIONS_FILE (an environment variable, as Fn passes config), so that tests
# can count calls and see exactly what the function received.
import datetime
import io
import json
import os
import time

from fdk import response


def record(ctx, body):
    path = ctx.Config().get("INVOCATIONS_FILE") or os.environ.get("INVOCATIONS_FILE")
    if not path:
        return
    line = (json.dumps(body, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def credential(body):
    if body.get("type") == "TOKEN":
        token = body.get("token") or ""
        return token[len("Bearer "):] if token.startswith("Bearer ") else token
    data = body.get("data") or {}
    token = data.get("token")
    if isinstance(token, str) and token:
        return token
    cookie = data.get("Cookie")
    if isinstance(cookie, str):
        for part in cookie.split(";"):
            name, _, value = part.strip().partition("=")
            if name == "session":
                return value
    return ""


def at(seconds):
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return moment.replace(microsecond=0).isoformat()


def allow(scope, lifetime, body):
    data = body.get("data") or {}
    return {
        "active": True,
        "principal": "https://example.com/users/jdoe",
        "scope": [scope, "profile"],
        "clientId": "test-client",
        "expiresAt": at(lifetime),
        "context": {
            "sub": "jdoe",
            "email": "jdoe@example.com",
            "name": "John Doe",
            "groups": ["admins", "users"],
            "granted": scope,
            "tenant": data.get("tenant", ""),
        },
    }


def answer(body):
    token = credential(body)
    if token.startswith("good:"):
        return allow(token[len("good:"):], 3600, body)
    if token.startswith("brief:"):
        return allow(token[len("brief:"):], 1, body)
    if token == "deny":
        return {"active": False, "wwwAuthenticate": 'Bearer realm="tests", error="invalid_token"'}
    if token.startswith("refuse:"):
        return {"active": False, "context": {"responseCode": token[len("refuse:"):]}}
    if token == "junk":
        return "<html>this is not an authorizer answer</html>"
    if token == "raise":
        raise ValueError("deliberate authorizer failure")
    if token == "slow":
        time.sleep(60)
    if token == "crash":
        os._exit(3)
    return {}


def handler(ctx, data: io.BytesIO = None):
    raw = data.getvalue() if data else b""
    try:
        body = json.loads(raw)
    except ValueError:
        body = {"unreadable": raw.decode("utf-8", "replace")}
    record(ctx, body)
    result = answer(body)
    text = result if isinstance(result, str) else json.dumps(result)
    return response.Response(
        ctx, response_data=text, headers={"Content-Type": "application/json"}
    )
