import io
import os
import time


def handler(ctx, data: io.BytesIO = None):
    seconds = float(data.getvalue() or b"0") if data else 0.0
    time.sleep(seconds)
    return "slept {0} in {1}".format(seconds, os.getpid())
