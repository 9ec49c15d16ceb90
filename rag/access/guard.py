"""Access for one serving process: who is asking (a key, a signed-in page user, or anyone on an open server), whether
their role may do this, their limits, and the one queue for the model that the API and the page share."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from rag.access.keys import Action, Keys, Role, least_role, may
from rag.access.limits import InFlight, RateLimits
from rag.access.queue import GenerationQueue, Request
from rag.backends.stores.base import Store
from rag.errors import AccessError
from rag.settings import Settings


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: a key's name and role, or (open server) "anonymous@ADDRESS" with every role."""

    name: str
    role: Role
    keyed: bool

    def describe(self) -> str:
        """For messages and the page."""
        return f"{self.name} ({self.role.value})" if self.keyed else self.name


def missing_key(wrong_place: str | None = None) -> AccessError:
    """The 401 for a request without a usable key (saying where the key should go when it was sent elsewhere)."""
    if wrong_place:
        return AccessError(f"the key was sent in {wrong_place}; this server reads it only from the Authorization "
                           "header", "send `Authorization: Bearer YOUR_KEY` (the openai client does this with "
                           "api_key=YOUR_KEY)")
    return AccessError("this server needs a key: send `Authorization: Bearer YOUR_KEY`",
                       "an admin creates one with `rag keys add NAME --role reader`")


def bad_key() -> AccessError:
    """The 401 for a key that is unknown or revoked (the same message for both: nothing to learn from it)."""
    return AccessError("the key is not valid (unknown or revoked)", "ask an admin for a key (`rag keys list`)")


def forbidden(principal: Principal, action: Action) -> AccessError:
    """The 403 for a role that may not do this."""
    need = least_role(action).value
    return AccessError(f"the key {principal.name!r} is a {principal.role.value} key; this needs an {need} key"
                       if need[0] in "aeiou" else
                       f"the key {principal.name!r} is a {principal.role.value} key; this needs a {need} key",
                       "ask an admin for a key with that role", status=403)


class Guard:
    """Keys, limits and the model's queue for one serving process (the API and the page use the same one)."""

    def __init__(self, settings: Settings, store: Store, limit_anonymous: bool = False) -> None:
        """limit_anonymous: also limit requests without keys, by address (a server --open on its network); on
        loopback without keys nothing is limited, as before keys existed."""
        self.settings = settings
        self.keys = Keys.of(store)
        self.limit_anonymous = limit_anonymous
        self.rate = RateLimits(settings.rate_limit_per_minute)
        self.in_flight = InFlight(settings.max_waiting_per_key)
        self.queue = GenerationQueue()

    def keyed(self) -> bool:
        """True when keys are configured (from the first `rag keys add` on, every request needs one)."""
        return self.keys.configured()

    def anonymous(self, client: str) -> Principal:
        """Whoever uses a server without keys (loopback, or --open): every role, limits by address."""
        return Principal(f"anonymous@{client}", Role.ADMIN, keyed=False)

    def identify(self, key: str | None, client: str, wrong_place: str | None = None) -> Principal:
        """Who sends this key (AccessError 401 when keys are configured and it is missing or not valid)."""
        if not self.keyed():
            return self.anonymous(client)
        if not key:
            raise missing_key(wrong_place)
        record = self.keys.check(key)
        if record is None:
            raise bad_key()
        return Principal(record.name, record.role, keyed=True)

    def page_user(self, username: str | None, client: str) -> Principal:
        """Who is signed in on the page (the key's name); AccessError when their key was revoked since."""
        if not self.keyed():
            return self.anonymous(client)
        if not username:
            raise AccessError("keys were made after this server started, so the page cannot sign you in yet",
                              "restart the server: the page then asks for a key")
        record = self.keys.by_name(username)
        if record is None:
            raise AccessError(f"the key {username!r} was revoked", "ask an admin for a new key, then sign in again")
        return Principal(record.name, record.role, keyed=True)

    def page_login(self, username: str, password: str) -> bool:
        """The page's sign-in: the name and the key must belong together."""
        record = self.keys.check(password or "")
        return record is not None and record.name == (username or "").strip()

    def require(self, principal: Principal, action: Action) -> None:
        """AccessError 403 when the principal's role may not do this."""
        if not may(principal.role, action):
            raise forbidden(principal, action)

    def limited(self, principal: Principal) -> bool:
        """True when the per-key limits apply: to every key, and to anonymous users of an --open server."""
        return principal.keyed or self.limit_anonymous

    def count(self, principal: Principal) -> None:
        """Count one request against the principal's requests a minute (LimitError when over)."""
        if self.limited(principal):
            self.rate.hit(principal.name)

    @contextmanager
    def asking(self, principal: Principal) -> Iterator[Request]:
        """A question in flight for this principal: its Request for the queue (LimitError when it has too many)."""
        if not self.limited(principal):
            yield Request(principal.name)
            return
        wait = max(1, round(self.queue.typical_s))
        with self.in_flight.admit(principal.name, wait):
            yield Request(principal.name)
