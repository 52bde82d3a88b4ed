"""gunicorn's access log without the secrets patients are texted.

A diary link (`/diary/go/<token>/`) opens the patient's diary until it expires or is
revoked: written to the access log, anyone who reads the log could answer as the patient.
Every field of an access-log line (request line, path, referrer, headers) has the token
masked. deploy/eprp starts gunicorn with `--logger-class eprp.access_log.MaskedSecretsLogger`.
"""

import re

from gunicorn.glogging import Logger

LINK = "/diary/go/"
SECRET_IN_PATH = re.compile("(" + re.escape(LINK) + r")[^/?#\s\"]+")
MASK = r"\1********"


def mask(text: str) -> str:
    return SECRET_IN_PATH.sub(MASK, text)


class MaskedSecretsLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        # Every request is logged (about 40 atoms: its headers and WSGI environ); the regex only
        # runs where its literal part is, which a webhook's atoms never hold.
        return {key: mask(value) if isinstance(value, str) and LINK in value else value
                for key, value in atoms.items()}
