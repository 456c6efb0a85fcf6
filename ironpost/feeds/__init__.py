"""Decision feeds: a CrowdSec LAPI polled as a bouncer would, and plain block lists."""
