"""SMTP settings from the environment: EMAIL_URL, or EMAIL_HOST and its companions."""

from collections.abc import Mapping
from urllib.parse import parse_qs, unquote, urlparse

_TRUE = {"1", "true", "yes", "on"}


def email_settings(env: Mapping[str, str], problems: list[tuple[str, str]]):
    """(host, port, user, password, use_tls, use_ssl); a malformed value is added to `problems`.

    EMAIL_URL is `smtp://user:password@host:587/?tls=1` (STARTTLS) or `smtps://…@host:465`
    (implicit TLS); user and password are percent-encoded. Without it: EMAIL_HOST,
    EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS, EMAIL_USE_SSL.
    """
    url = env.get("EMAIL_URL", "").strip()
    if url:
        parsed = urlparse(url)
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        try:
            port = parsed.port
        except ValueError:
            port = -1
        if parsed.scheme not in {"smtp", "smtps"} or not parsed.hostname or port == -1:
            problems.append(("EMAIL_URL", "expected smtp://user:password@host:port/ or smtps://…"))
            return "localhost", 25, "", "", False, False
        ssl = parsed.scheme == "smtps" or query.get("ssl", "").lower() in _TRUE
        tls = not ssl and query.get("tls", "").lower() in _TRUE
        return (parsed.hostname, port or (465 if ssl else 25), unquote(parsed.username or ""),
                unquote(parsed.password or ""), tls, ssl)
    raw_port = env.get("EMAIL_PORT", "").strip()
    if raw_port and not raw_port.isdigit():
        problems.append(("EMAIL_PORT", f"expected a port number, got {raw_port!r}"))
        raw_port = ""
    tls = env.get("EMAIL_USE_TLS", "").lower() in _TRUE
    ssl = env.get("EMAIL_USE_SSL", "").lower() in _TRUE
    if tls and ssl:
        problems.append(("EMAIL_USE_TLS", "EMAIL_USE_TLS and EMAIL_USE_SSL exclude each other"))
    return (env.get("EMAIL_HOST", "localhost"), int(raw_port or 25), env.get("EMAIL_HOST_USER", ""),
            env.get("EMAIL_HOST_PASSWORD", ""), tls, ssl and not tls)
