"""May the server listen on this address? Without keys only on loopback, unless the operator says --open."""

from __future__ import annotations

import ipaddress
import socket

from rag.errors import BadInputError

OPEN_WARNING = ("serving on {host} without keys (--open): anyone who can reach this address can ask, add and "
                "remove articles")


def is_loopback(host: str) -> bool:
    """True when every address the host name or IP stands for is a loopback address (127.0.0.0/8, ::1)."""
    name = host.strip("[]")
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


def check_exposure(host: str, keyed: bool, open_: bool) -> str | None:
    """None when serving here is fine as it is; a warning to log and show when it is open by choice; BadInputError
    (with how to create a key) when a non-loopback address would be served without keys."""
    if keyed or is_loopback(host):
        return None
    if open_:
        return OPEN_WARNING.format(host=host)
    raise BadInputError(
        f"refusing to serve on {host} without keys: anyone who can reach it could ask, add and remove articles",
        "create a key first: `rag keys add NAME --role admin` (it is printed once; sign in with it), "
        "or serve on 127.0.0.1, or pass --open to serve without keys anyway",
    )
