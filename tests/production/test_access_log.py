"""The diary link's secret stays out of gunicorn's access log (the logger deploy/eprp starts it with)."""

import logging
import re
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "kX2v9QpLr8Ta:1vQz3F:Yt0hW1n2cXb5aSg7dE4fPq9uRk3mLz8oNj6iHc2bVw"


def _log_one_request(tmp_path, logger_class: str, target: str = f"/diary/go/{TOKEN}/") -> str:
    path = tmp_path / f"access-{logger_class}.log"
    cfg = Config()
    cfg.set("accesslog", str(path))
    cfg.set("logger_class", logger_class)
    cfg.set("access_log_format", '%(h)s "%(r)s" %(s)s "%(f)s" %(U)s %({referer}i)s')
    logger = cfg.logger_class(cfg)
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": target, "PATH_INFO": target,
               "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "192.0.2.1",
               "HTTP_REFERER": f"https://eprp.test{target}"}
    request = SimpleNamespace(headers=[("REFERER", f"https://eprp.test{target}")])
    response = SimpleNamespace(status="302 Found", sent=0, headers=[])
    logger.access(response, request, environ, timedelta(milliseconds=12))
    for handler in logger.access_log.handlers:
        handler.flush()
        handler.close()
    logging.getLogger("gunicorn.access").handlers.clear()
    return path.read_text()


def test_gunicorns_own_logger_would_write_the_token(tmp_path):
    assert TOKEN in _log_one_request(tmp_path, "gunicorn.glogging.Logger")


def test_the_access_log_has_the_link_masked_everywhere(tmp_path):
    line = _log_one_request(tmp_path, "eprp.access_log.MaskedSecretsLogger")
    assert "/diary/go/********/" in line and "302" in line
    assert TOKEN not in line and TOKEN.split(":")[0] not in line


def test_a_line_without_the_link_is_written_as_gunicorn_writes_it(tmp_path):
    target = "/sms/twilio/inbound/?go=1"
    masked = _log_one_request(tmp_path, "eprp.access_log.MaskedSecretsLogger", target)
    assert masked == _log_one_request(tmp_path, "gunicorn.glogging.Logger", target)
    assert f'"GET {target} HTTP/1.1"' in masked


def test_production_starts_gunicorn_with_that_logger():
    script = (ROOT / "deploy" / "eprp").read_text()
    web = re.search(r"^\s*web\).*?;;", script, re.S | re.M).group(0)
    assert "--logger-class eprp.access_log.MaskedSecretsLogger" in web


@pytest.mark.parametrize("path", ["/diary/go/abc:def:ghi/", "/diary/go/abc:def:ghi/?x=1", "/diary/go/abc"])
def test_every_form_of_the_link_is_masked(path):
    from eprp.access_log import mask

    assert "abc" not in mask(path)
