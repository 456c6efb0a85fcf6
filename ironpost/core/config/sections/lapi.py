"""[lapi]: the part of CrowdSec's local API that bouncers use, served from Ironpost's decisions."""

from ironpost.core.config.schema import Field, Section

LAPI = Section(
    "lapi",
    {
        "enabled": Field("bool", False, "serve GET /v1/decisions and /v1/decisions/stream to CrowdSec bouncers "
                         "(the decisions come from [ebpf]; backend = \"memory\" when XDP should not enforce them)"),
        "listen": Field("addr", "127.0.0.1:8081", "address the API listens on (loopback unless you mean otherwise; "
                        "anything else is logged at start)"),
        "bouncers_file": Field("path", "", "hashed bouncer keys made by `cli bouncers add`; empty means "
                               "<data_dir>/bouncers.json"),
        "max_decisions": Field("int", 1_000_000, "most decisions one response carries", min=1, max=100_000_000),
    },
    doc="CrowdSec-compatible decision API for bouncers",
)
