def handler(ctx, data=None):
    return "never runs"
