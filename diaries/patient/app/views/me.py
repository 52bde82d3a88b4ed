"""Me and my devices: who the token's participant is, how reminders reach them (their channel
preference) and the devices that receive push reminders.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from diaries import participants
from diaries.models import Participant, PushDevice
from diaries.patient.app.base import TAG, PatientAPIView, _day, _iso, _valid
from diaries.patient.app.errors import Conflict, PatientErrors, _common
from diaries.patient.app.serializers import PatientDeviceOut, PatientDeviceRequest, PatientMe, PatientMeUpdate
from diaries.protocol import windows


class MeView(PatientAPIView):
    @extend_schema(
        tags=[TAG], operation_id="patient_me", summary="Who I am: study day, phase, language, zone, site contact",
        responses=_common({200: PatientMe}),
        examples=[OpenApiExample("Me", value={
            "usubjid": "TRUE-AD-101-0001", "today": "2026-03-09", "study_day": 2, "day1": "2026-03-08",
            "phase": "vc", "language": "en", "zone": "America/Chicago", "sms_consent": "opted_in",
            "channel_preference": "push_then_sms", "channel_preference_is_default": False,
            "fallback_after_minutes": 30, "push_devices_active": 1,
            "site": {"name": "Lakeside Dermatology Research", "phone": "+13125550101", "hours": "Mon-Fri 8am-5pm"}})],
    )
    def get(self, request):
        return Response(me_for(self.participant))

    @extend_schema(
        tags=[TAG], operation_id="patient_me_update", request=PatientMeUpdate,
        summary="Choose how reminders reach me: sms, push, or push then SMS",
        description="The patient's own choice, audited; the site can change it too. An SMS opt-out (STOP) and the "
                    "app's push devices are independent: the prompt goes by the other channel when the chosen one "
                    "cannot reach the patient.",
        responses=_common({200: PatientMe, 400: PatientErrors}),
        examples=[OpenApiExample("Push, then SMS", request_only=True, value={"channel_preference": "push_then_sms"})],
    )
    def patch(self, request):
        data = _valid(PatientMeUpdate, request.data)
        p = self.participant
        if "channel_preference" in data:
            p = participants.set_channel_preference(participant=p, preference=data["channel_preference"], actor=p,
                                                    source="app")
        return Response(me_for(p))


def me_for(p: Participant) -> dict:
    today = windows.local(timezone.now(), p.zone).date()
    day1 = p.day1
    rules = p.study.rules
    return {
        "usubjid": p.usubjid, "today": today.isoformat(),
        "study_day": windows.study_day(today, day1) if day1 else None, "day1": _day(day1),
        "phase": p.phase, "language": p.language, "zone": p.zone, "sms_consent": p.sms_consent,
        "channel_preference": p.channel_preference or rules.channel_default,
        "channel_preference_is_default": not p.channel_preference,
        "fallback_after_minutes": rules.fallback_after_minutes,
        "push_devices_active": p.push_devices.filter(active=True).count(),
        "site": {"name": p.site.name, "phone": p.site.phone, "hours": p.site.hours},
    }


# Push addresses a participant may register (a new phone now and then, not one per request).
MAX_PUSH_DEVICES = 5


class DevicesView(PatientAPIView):
    @extend_schema(
        tags=[TAG], operation_id="patient_devices", request=PatientDeviceRequest,
        summary="Register this device for push reminders",
        description="Prompts then reach this device by push when the participant's channel preference says so "
                    "(`me.channel_preference`). Shown to site staff (never the token). Registering the same token "
                    "again is harmless (200) and reactivates a device the provider had reported unreachable.",
        responses=_common({201: PatientDeviceOut, 200: PatientDeviceOut, 400: PatientErrors,
                           409: OpenApiResponse(PatientErrors, description="Already 5 devices (too_many_devices).")}),
        examples=[OpenApiExample("iOS", request_only=True,
                                 value={"platform": "ios", "token": "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387"
                                                                   "462c7eaf61bb78ad"})],
    )
    def post(self, request):
        p = self.participant
        data = _valid(PatientDeviceRequest, request.data)
        now = timezone.now()
        with transaction.atomic():
            # The participant's row lock: two registrations at once cannot both be the sixth.
            Participant.objects.select_for_update().filter(pk=p.pk).first()
            known = PushDevice.objects.filter(participant=p, platform=data["platform"], token=data["token"])
            if not known.exists() and PushDevice.objects.filter(participant=p, active=True).count() >= MAX_PUSH_DEVICES:
                raise Conflict("too_many_devices", f"At most {MAX_PUSH_DEVICES} devices per participant.")
            device, created = participants.register_push_device(participant=p, platform=data["platform"],
                                                                token=data["token"], at=now)
        return Response({"device_id": device.pk, "platform": device.platform, "registered_at": _iso(now, p.zone)},
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
