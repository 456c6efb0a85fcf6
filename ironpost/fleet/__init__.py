"""The fleet: several Ironpost nodes share decisions and alerts through Redis Streams."""
