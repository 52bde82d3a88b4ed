"""The client's address behind the configured number of proxies."""

from django.conf import settings


def client_address(request) -> str:
    """REMOTE_ADDR, or the address NUM_PROXIES proxies back in X-Forwarded-For when it is set.

    The same rule as the REST framework's throttles (and so the patient sign-in limits): with
    NUM_PROXIES unset the header is ignored, since any client can send one; with it set, the
    entry the outermost trusted proxy appended is the client as that proxy saw it.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies is None or proxies == 0 or not forwarded:
        return remote
    addresses = [a.strip() for a in forwarded.split(",") if a.strip()]
    return addresses[-min(proxies, len(addresses))] if addresses else remote
