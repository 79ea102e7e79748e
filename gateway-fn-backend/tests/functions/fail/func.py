import io


def handler(ctx, data: io.BytesIO = None):
    raise ValueError("deliberate failure")
