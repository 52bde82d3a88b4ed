"""New alerts e-mailed to the staff of the alert's site (subject id and alert kind only, no PHI), and the
operator's alerts about the study's SMS sender to OPERATOR_EMAILS."""

from __future__ import annotations

import logging
import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from .models import Alert, AlertKind

logger = logging.getLogger(__name__)


def email_site_staff_later(alert: Alert) -> None:
    """After the alert commits: the e-mail is a task, so no request (a patient's text) waits for SMTP."""
    try:
        email_site_staff_task.delay(alert.pk)
    except Exception:  # the broker is down: the alert is in the admin either way
        logger.exception("alert %s: could not enqueue its e-mail", alert.pk)


@shared_task(name="diaries.alert_email.email_site_staff_task")
def email_site_staff_task(alert_id: int) -> int:
    alert = Alert.objects.select_related("site", "participant").filter(pk=alert_id).first()
    return 0 if alert is None else email_site_staff(alert)


def email_site_staff(alert: Alert) -> int:
    """Tell the site's active staff that an alert is open; the number of recipients.

    The mail names only the USUBJID and the kind of alert, with a link to the admin page:
    the detail (which may quote a patient's words) stays behind the login.
    """
    url = settings.PUBLIC_BASE_URL + reverse("admin:diaries_alert_change", args=[alert.pk])
    if alert.kind == AlertKind.SMS_SENDER:
        # The operator's, about the study's sender: no participant in it, so the detail goes along.
        recipients, subject_id = settings.OPERATOR_EMAILS, f"study {alert.study.code}"
        body = f"For the study's operator: {alert.get_kind_display()}.\n\n{alert.detail}\n\nIn the admin: {url}\n"
        if not recipients:
            logger.warning("alert %s: no OPERATOR_EMAILS to tell about the SMS sender", alert.pk)
            return 0
    elif alert.site is None:
        return 0  # unknown senders belong to no site: monitors see them in the admin
    else:
        recipients = sorted(
            {u.email for u in alert.site.staff.filter(is_active=True).exclude(email="")}
        )
        if not recipients:
            logger.warning("alert %s: site %s has no staff with an e-mail address", alert.pk, alert.site.number)
            return 0
        subject_id = alert.participant.usubjid if alert.participant else f"site {alert.site.number}"
        body = (
            f"A new alert needs attention at site {alert.site.number}.\n\n"
            f"Subject: {subject_id}\nAlert: {alert.get_kind_display()}\n\n"
            f"Open it in the study admin: {url}\n"
        )
    try:
        send_mail(f"[eprp] {alert.get_kind_display()}: {subject_id}", body, None, recipients)
    except (smtplib.SMTPException, OSError):
        # Runs after the commit of whatever raised the alert (a webhook, a task): a mail
        # server outage must not fail it. The alert itself is in the admin either way.
        logger.exception("alert %s: could not e-mail %s", alert.pk, subject_id)
        return 0
    return len(recipients)
