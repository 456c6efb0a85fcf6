"""[feeds]: decisions from outside: a CrowdSec LAPI (bouncer mode) and plain block lists."""

from ironpost.core.config.schema import Field, Section


def _lists(v):
    for item in v:
        name, sep, where = item.partition("=")
        if not sep or not name.strip() or not where.strip():
            return f"{item!r}: expected NAME=PATH or NAME=URL (e.g. spamhaus=/etc/ironpost/drop.txt)"
        if not all(c.isalnum() or c in "-_." for c in name.strip()):
            return f"{item!r}: a list name has only letters, digits, '-', '_' and '.'"
    return None


FEEDS = Section(
    "feeds",
    {
        "enabled": Field("bool", False, "load decisions from a CrowdSec LAPI and/or block lists"),
        "crowdsec_url": Field("url", "", "bouncer mode: the CrowdSec LAPI polled for decisions (e.g. "
                              "http://127.0.0.1:8080/); empty disables", secret=True),
        "crowdsec_api_key": Field("str", "", "bouncer mode: the key from `cscli bouncers add ironpost`", secret=True),
        "crowdsec_poll_secs": Field("float", 10.0, "seconds between two polls of the CrowdSec decision stream",
                                    min=0.2, max=3600),
        "crowdsec_timeout_secs": Field("float", 10.0, "timeout of one request to the CrowdSec LAPI", min=0.5, max=300),
        "lists": Field("list", [], "block lists as NAME=PATH or NAME=URL (FireHOL .netset, Spamhaus DROP: one IP or "
                       "CIDR a line, '#' and ';' comments); their decisions have origin list:NAME", check=_lists),
        "lists_refresh_secs": Field("float", 3600.0, "how often lists are read again (added entries banned, vanished "
                                    "ones revoked)", min=10, max=604800),
        "list_ttl_secs": Field("int", 0, "duration of list decisions; 0 = until the list drops the entry", min=0),
        "list_max_entries": Field("int", 1_000_000, "most entries one list may hold; a longer list is refused",
                                  min=1, max=50_000_000),
    },
    doc="decision feeds: CrowdSec bouncer mode and block lists",
)
