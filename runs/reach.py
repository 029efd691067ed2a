"""Which hosts a run's endpoint may reach: MLEVAL_ENDPOINT_ALLOWED_HOSTS, checked in one place.

The worker POSTs to the host a run names, so a run could make it call anything it can reach
(the database's host, a cloud metadata address, an admin interface on loopback). The setting
makes that a decision: a comma-separated list of

- `*`: any host (the default in development and tests, where model servers run on loopback);
- `public`: any globally routable address (not loopback, private, link-local, reserved);
- a network in CIDR notation (`10.20.0.0/16`) or one address (`192.0.2.7`, `::1`);
- a host name (`models.internal`), or every name under a domain (`.models.example.com`).

Unset in production the list is `public`: a model server on a private network must be listed.

A host name that is listed is trusted whatever it resolves to; any other host is allowed when
every address it resolves to is. Registration (`check_endpoint_url`: the run form, the API,
`create_run`) refuses an endpoint outside the list, and every connection the worker opens is
checked again at connect time (`check_connect`), on the addresses it actually connects to, so
a name that later resolves elsewhere is refused too.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SETTING = "MLEVAL_ENDPOINT_ALLOWED_HOSTS"
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class EndpointRefused(ValueError):
    """The endpoint's host (or an address it resolves to) is outside the allowed list."""


@dataclass(frozen=True)
class Policy:
    any_host: bool
    public: bool
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    names: frozenset[str]
    domains: tuple[str, ...]  # ".example.com": the names under it


@lru_cache(maxsize=8)
def _parse(entries: tuple[str, ...]) -> Policy:
    any_host = public = False
    networks, names, domains = [], set(), []
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            any_host = True
        elif entry == "public":
            public = True
        elif entry.startswith("."):
            domains.append(entry)
        else:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if "/" in entry or ":" in entry:
                    raise ImproperlyConfigured(
                        f"{SETTING}: {raw.strip()!r} is neither a network nor a host name"
                    ) from None
                names.add(entry.rstrip("."))
    return Policy(any_host, public, tuple(networks), frozenset(names), tuple(domains))


def policy() -> Policy:
    """The setting, parsed (cached per value, so tests may override it)."""
    entries = settings.MLEVAL_ENDPOINT_ALLOWED_HOSTS
    if isinstance(entries, str):
        entries = entries.split(",")
    return _parse(tuple(entries))


def _address(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def name_allowed(host: str, rules: Policy | None = None) -> bool:
    """Whether the host name itself is listed (then any address it resolves to is allowed)."""
    rules = rules or policy()
    name = host.lower().rstrip(".")
    return rules.any_host or name in rules.names or any(name.endswith(d) for d in rules.domains)


def address_allowed(address: Address, rules: Policy | None = None) -> bool:
    rules = rules or policy()
    if rules.any_host:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if any(address in network for network in rules.networks):
        return True
    return rules.public and address.is_global and not address.is_multicast


def _refusal(host: str, address: str | None = None) -> EndpointRefused:
    where = f"{host} ({address})" if address and address != host else host
    return EndpointRefused(
        f"The endpoint host {where} is not in {SETTING}; an administrator can add it "
        "(a host name, or its network in CIDR notation)."
    )


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to (an address is itself); EndpointRefused when none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise EndpointRefused(f"The endpoint host {host} does not resolve: {error}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def allowed_addresses(host: str, addresses: list[str]) -> list[str]:
    """The addresses of `host` that may be connected to; EndpointRefused when one may not.

    Every address must be allowed (not just one): a name resolving to a public address and
    to 127.0.0.1 would otherwise reach loopback on the next lookup.
    """
    rules = policy()
    if name_allowed(host, rules):
        return addresses
    for text in addresses:
        address = _address(text)
        if address is None or not address_allowed(address, rules):
            raise _refusal(host, text)
    return addresses


def check_endpoint_url(url: str) -> None:
    """Registration's check: EndpointRefused when the http(s) endpoint's host is not allowed.

    An address in the URL is checked as it is; a name that is not listed is resolved (the
    worker resolves it again at every connection).
    """
    try:
        parts = urlsplit(url)
    except ValueError as error:  # "http://[": an unclosed IPv6 bracket (a 500 before)
        raise EndpointRefused(f"The endpoint URL is not valid: {error}.") from None
    if parts.scheme not in ("http", "https"):
        return
    host = parts.hostname or ""
    if not host:
        raise EndpointRefused("The endpoint URL has no host.")
    rules = policy()
    if name_allowed(host, rules):
        return
    if (address := _address(host)) is not None:
        if not address_allowed(address, rules):
            raise _refusal(host)
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise EndpointRefused("The endpoint URL has a bad port.") from None
    allowed_addresses(host, resolve(host, port))
