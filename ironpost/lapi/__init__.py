"""The CrowdSec-compatible decision API: the subset of CrowdSec's local API that bouncers use."""
