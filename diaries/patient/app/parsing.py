"""The app's JSON bodies: a clear 400 for what json.loads alone would take or crash on.

A deeply nested body (`[[[...]]]`, 100 KB) makes the decoder raise RecursionError, which
the REST framework's parser lets through as a 500; an object with a key twice keeps only
the last value silently. Both are refused as parse errors.
"""

import codecs
import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant


def _no_repeated_keys(pairs):
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("an object names the same key twice")
    return dict(pairs)


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json.load(codecs.getreader(encoding)(stream), object_pairs_hook=_no_repeated_keys,
                             parse_constant=strict_constant if self.strict else None)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply") from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
