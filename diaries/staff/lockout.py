"""Login lockout after repeated failures (django-axes), for every login that comes with a request."""

from axes.backends import AxesStandaloneBackend


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check for every login that comes with a request (the admin's).

    axes refuses to authenticate without a request; logins outside HTTP (the shell, the
    test client's `login`) have no request to lock out, so they pass on to ModelBackend.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
