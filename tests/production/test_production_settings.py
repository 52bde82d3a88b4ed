"""Production settings: HTTPS only behind the proxy, a clean `check --deploy`, SMTP, health-checked connections."""

from tests.production.settings_probe import PRODUCTION, environment, read_settings, run


def test_check_deploy_is_clean_in_production_mode():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], environment(PRODUCTION))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_redirects_to_https_and_sends_hsts_behind_the_proxy_header():
    got = read_settings(["SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
                         "SECURE_PROXY_SSL_HEADER", "SECURE_REDIRECT_EXEMPT"], environment(PRODUCTION))
    assert got["SECURE_SSL_REDIRECT"] is True
    assert got["SECURE_HSTS_SECONDS"] >= 180 * 24 * 3600 and got["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert got["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_the_embedded_shape_stays_on_plain_http(tmp_path):
    got = read_settings(["SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS"],
                        environment(EPRP_MODE="embedded", EPRP_VAR_DIR=str(tmp_path)))
    assert got == {"SECURE_SSL_REDIRECT": False, "SECURE_HSTS_SECONDS": 0}


def test_https_redirect_and_hsts_on_requests(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_REDIRECT_EXEMPT = read_settings(["SECURE_REDIRECT_EXEMPT"], environment(PRODUCTION))[
        "SECURE_REDIRECT_EXEMPT"]
    plain = client.get("/api/schema/")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    # A client's own X-Forwarded-Proto is only trusted because the proxy overwrites it.
    secure = client.get("/api/schema/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200 and "max-age=31536000" in secure["Strict-Transport-Security"]
    assert client.get("/health/").status_code == 200  # the container's health check speaks plain HTTP


def test_database_connections_are_health_checked():
    got = read_settings(["DATABASES"], environment(PRODUCTION))
    assert got["DATABASES"]["default"]["CONN_HEALTH_CHECKS"] is True
    assert got["DATABASES"]["default"]["CONN_MAX_AGE"] == 60


def test_smtp_from_email_url():
    got = read_settings(
        ["EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD", "EMAIL_USE_TLS",
         "EMAIL_USE_SSL", "EMAIL_TIMEOUT"],
        environment(PRODUCTION, EMAIL_URL="smtp://alerts%40clinic.org:p%40ss@smtp.clinic.org:587/?tls=1",
                    EMAIL_TIMEOUT="7"))
    assert got == {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", "EMAIL_HOST": "smtp.clinic.org",
                   "EMAIL_PORT": 587, "EMAIL_HOST_USER": "alerts@clinic.org", "EMAIL_HOST_PASSWORD": "p@ss",
                   "EMAIL_USE_TLS": True, "EMAIL_USE_SSL": False, "EMAIL_TIMEOUT": 7}


def test_smtp_from_separate_variables_and_implicit_tls():
    got = read_settings(["EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_USE_TLS", "EMAIL_USE_SSL",
                         "EMAIL_TIMEOUT"],
                        environment(PRODUCTION, EMAIL_HOST="mail.clinic.org", EMAIL_PORT="465",
                                    EMAIL_HOST_USER="eprp", EMAIL_HOST_PASSWORD="secret", EMAIL_USE_SSL="1"))
    assert got == {"EMAIL_HOST": "mail.clinic.org", "EMAIL_PORT": 465, "EMAIL_HOST_USER": "eprp",
                   "EMAIL_USE_TLS": False, "EMAIL_USE_SSL": True, "EMAIL_TIMEOUT": 10}
    implicit = read_settings(["EMAIL_PORT", "EMAIL_USE_SSL"], environment(PRODUCTION, EMAIL_URL="smtps://u:p@mx.org"))
    assert implicit == {"EMAIL_PORT": 465, "EMAIL_USE_SSL": True}


def test_a_malformed_email_setting_is_named_at_start():
    result = run(["manage.py", "check"], environment(PRODUCTION, EMAIL_URL="mailto:someone", EMAIL_TIMEOUT="soon"))
    assert result.returncode != 0
    assert "EMAIL_URL: expected smtp://" in result.stderr
    assert "EMAIL_TIMEOUT: expected a whole number >= 1, got 'soon'" in result.stderr


def test_alert_mail_goes_to_the_configured_smtp_server(settings):
    """The SMTP backend really dials EMAIL_HOST:EMAIL_PORT and gives up after EMAIL_TIMEOUT."""
    import socket
    import threading

    from django.core.mail import get_connection

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted = []

    def accept():  # accept and say nothing: the client must time out, not hang
        conn, _ = server.accept()
        accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", server.getsockname()[1], 1
    connection = get_connection("django.core.mail.backends.smtp.EmailBackend", fail_silently=False)
    try:
        connection.open()
        raise AssertionError("an SMTP server that never answers must time out")
    except (TimeoutError, OSError):
        pass
    finally:
        server.close()
        for conn in accepted:
            conn.close()
    assert accepted, "the backend did not dial the configured host and port"
