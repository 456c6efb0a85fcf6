"""Stand-in for an asyncio socket transport, for feeding the syslog TCP collector's per-connection
framing without a socket (fault injection in the fuzz suites only: the real collector is tested
over loopback elsewhere)."""


class StubTransport:
    """Records what the framing code asks of it."""

    def __init__(self):
        self.closed = False

    def get_extra_info(self, key, default=None):
        return ("127.0.0.1", 4242) if key == "peername" else default

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass

    def abort(self):
        self.closed = True

    close = abort
