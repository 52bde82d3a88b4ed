"""The admin login forms: sponsors are refused like a wrong password; with 2FA, an OTP token too."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django_otp.admin import OTPAdminAuthenticationForm

from diaries import roles


class RefuseSponsors:
    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if roles.is_sponsor(user):
            # The same message as a wrong password: the form does not tell which accounts exist.
            raise ValidationError(self.error_messages["invalid_login"], code="invalid_login",
                                  params={"username": self.username_field.verbose_name})


class StaffLoginForm(RefuseSponsors, AdminAuthenticationForm):
    pass


class StaffOTPLoginForm(RefuseSponsors, OTPAdminAuthenticationForm):
    pass
