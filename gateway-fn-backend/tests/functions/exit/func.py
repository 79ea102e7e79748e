import io
import os
import sys


def handler(ctx, data: io.BytesIO = None):
    if data and data.getvalue() == b"exit":
        print("exiting on purpose", file=sys.stderr, flush=True)
        os._exit(3)
    return str(os.getpid())
