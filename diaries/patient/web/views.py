"""The patient web diary: server-rendered pages over the same use cases as the SMS path and the app.

A patient arrives through a signed link (diaries/patient/web/links.py); the participant then
lives only in the session (session.py), never in a URL, so no page can show or change anyone
else's data. ePRO practice: one item per screen, nothing pre-selected, no auto-advance, back
navigation, a review before anything is sent. In-progress answers stay in the session until
the review's submit, which sends the whole diary through `submit_diary` as SMS and the app
do: the same diary date, window, supersession and refusal.
"""

from __future__ import annotations

import functools
from datetime import date, datetime

from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from diaries import treatment
from diaries.diary import Reason, Recorded, answer_problems, refuse_diary, submit_diary
from diaries.models import Channel, DiaryRecord, Phase, Timepoint, TreatmentEvent
from diaries.patient.texts import LANGUAGES, cleared_message, t
from diaries.patient.web import links
from diaries.patient.web.session import (
    SESSION_DONE,
    SESSION_FLOWS,
    SESSION_LANG,
    SESSION_LINK,
    SESSION_PARTICIPANT,
    Viewer,
    language,
    page,
    participant_view,
    secure_page,
)
from diaries.protocol.dates import format_date, format_day, format_short_date, format_time
from diaries.today import FLOWS, DailyStatus, Flow, H12Status, daily_status, h12_status

# --- link, language, logout ------------------------------------------------------------------


@secure_page
@require_GET
def open_link(request, token: str):
    try:
        opened = links.open_link(token)
    except links.LinkError as exc:
        return _link_problem(request, exc)
    # The language toggle survives only for the same participant tapping their link again.
    same = request.session.get(SESSION_PARTICIPANT) == str(opened.participant.pk)
    lang = request.session.get(SESSION_LANG) if same else None
    # A new session key for every link: nothing of an earlier session (or someone else's) survives.
    request.session.flush()
    request.session[SESSION_PARTICIPANT] = str(opened.participant.pk)
    request.session[SESSION_LINK] = opened.link.nonce
    if lang in LANGUAGES:
        request.session[SESSION_LANG] = lang
    return redirect("diary:home")


def _link_problem(request, exc: links.LinkError):
    known = request.session.get(SESSION_LANG) in LANGUAGES or exc.link is not None
    lang = language(request, exc.link.participant if exc.link else None)

    def lines(lang):
        first = {
            "expired": t(lang, "link_expired", hours=links.max_age() // 3600),
            "used": t(lang, "link_used"),
        }.get(exc.reason, t(lang, "link_invalid"))
        return [first, t(lang, "get_new_link")]

    title = {"expired": "link_expired_title", "used": "link_used_title"}.get(exc.reason, "link_invalid_title")
    # A forged or mangled link says nothing about who holds it: explain in every language.
    others = [] if known else [{"lang": other, "lines": lines(other)} for other in LANGUAGES if other != lang]
    return page(request, "diary/message.html", lang, status=410 if exc.reason in ("expired", "used") else 403,
                 title=t(lang, title), lines=lines(lang), others=others)


@secure_page
@require_POST
def switch_language(request):
    lang = request.POST.get("lang")
    if lang in LANGUAGES:
        request.session[SESSION_LANG] = lang
    target = request.POST.get("next") or reverse("diary:home")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = reverse("diary:home")
    return redirect(target)


@participant_view
@require_POST
def logout(request, viewer: Viewer):
    links.revoke(request.session.get(SESSION_LINK), str(viewer.participant.pk))
    request.session.flush()
    request.session[SESSION_LANG] = viewer.lang
    return redirect("diary:logged_out")


@secure_page
@require_GET
def logged_out(request):
    lang = language(request)
    return page(request, "diary/message.html", lang, title=t(lang, "logged_out_title"),
                 lines=[t(lang, "logged_out")])


# --- home -----------------------------------------------------------------------------------


@participant_view
@require_GET
def home(request, viewer: Viewer):
    p, lang = viewer.participant, viewer.lang
    daily = daily_status(p, viewer.now)
    h12 = h12_status(p, viewer.now)
    if h12 is not None and h12.state == "closed":
        h12 = None  # its time has passed: the 12-hour check is no longer offered
    return page(request, "diary/home.html", lang, viewer=viewer, daily=daily, daily_lines=_daily_lines(viewer, daily),
                 h12=h12, h12_lines=_h12_lines(viewer, h12) if h12 else [],
                 long_term=p.phase == Phase.LONG_TERM)


def _daily_lines(viewer: Viewer, s: DailyStatus) -> list[str]:
    lang, rules = viewer.lang, viewer.rules
    if s.state == "open":
        return [t(lang, "today_for", date=format_date(s.diary_date, lang))]
    if s.state == "done":
        return [t(lang, "already_done"),
                t(lang, "can_change_until", time=format_time(viewer.local(s.closes_at), lang))]
    if s.state == "closed":
        opens = format_time(datetime.combine(viewer.now.date(), rules.window_opens), lang)
        closes = format_time(datetime.combine(viewer.now.date(), rules.window_closes), lang)
        return [t(lang, "window_closed"), t(lang, "next_opens", when=viewer.when(s.next_opens_at)),
                t(lang, "window_hours", opens=opens, closes=closes)]
    if s.state == "not_started":
        return [t(lang, "diary_starts", date=format_date(s.diary_date, lang))]
    if s.state == "ended":
        return [t(lang, "daily_ended")]
    return [t(lang, "diary_closed")]


def _h12_lines(viewer: Viewer, s: H12Status) -> list[str]:
    lang = viewer.lang
    if s.state == "not_yet":
        return [t(lang, "h12_not_yet", when=viewer.when(s.opens_at))]
    if s.state == "done":
        return [t(lang, "h12_done"), t(lang, "can_change_until", time=format_time(viewer.local(s.closes_at), lang))]
    if s.state == "closed":
        return [t(lang, "h12_closed")]
    return [t(lang, "h12_intro")]


# --- question flows: today's diary and the 12-hour assessment ---------------------------------


def _flow_open(viewer: Viewer, flow: Flow) -> tuple[bool, object]:
    """(can answer now, the diary date it would go to)."""
    if flow.timepoint == Timepoint.H12:
        s = h12_status(viewer.participant, viewer.now)
        return (s is not None and s.state in ("open", "done")), viewer.participant.day1
    s = daily_status(viewer.participant, viewer.now)
    return s.state in ("open", "done"), s.diary_date


def _flow_state(request, flow: Flow, diary_date) -> dict:
    """This flow's in-progress answers; started afresh for a new diary date."""
    flows = request.session.get(SESSION_FLOWS, {})
    state = flows.get(flow.slug)
    if not state or state.get("date") != diary_date.isoformat():
        state = {"date": diary_date.isoformat(), "answers": {}}
    return state


def _save_flow_state(request, flow: Flow, state: dict | None):
    flows = dict(request.session.get(SESSION_FLOWS, {}))
    if state is None:
        flows.pop(flow.slug, None)
    else:
        flows[flow.slug] = state
    request.session[SESSION_FLOWS] = flows


def _first_unanswered(state: dict, total: int) -> int | None:
    for n in range(1, total + 1):
        if str(n) not in state["answers"]:
            return n
    return None


def _choices(item, lang: str) -> list[dict]:
    if item.kind == "nrs":
        return [{"value": k, "label": str(k)} for k in item.choices]
    return [{"value": o.number, "label": o.labels.get(lang) or o.labels["en"]} for o in item.options]


def _item_text(item, lang: str, timepoint: str = Timepoint.DAILY) -> str:
    return item.question(lang, timepoint)


def _flow_title(lang: str, flow: Flow) -> str:
    return t(lang, "h12_title" if flow.timepoint == Timepoint.H12 else "today_title")


@participant_view
@require_GET
def flow_intro(request, viewer: Viewer, flow: str):
    flow_ = FLOWS[flow]
    if flow_.timepoint == Timepoint.H12:
        s = h12_status(viewer.participant, viewer.now)
        if s is None:
            return redirect("diary:home")
        return page(request, "diary/flow_intro.html", viewer.lang, viewer=viewer, flow=flow_,
                     title=_flow_title(viewer.lang, flow_), lines=_h12_lines(viewer, s),
                     can_start=s.state in ("open", "done"), done=s.state == "done",
                     start_label=t(viewer.lang, "h12_start"))
    s = daily_status(viewer.participant, viewer.now)
    return page(request, "diary/flow_intro.html", viewer.lang, viewer=viewer, flow=flow_,
                 title=_flow_title(viewer.lang, flow_), lines=_daily_lines(viewer, s),
                 can_start=s.state in ("open", "done"), done=s.state == "done",
                 start_label=t(viewer.lang, "start_diary"))


@participant_view
@require_http_methods(["GET", "POST"])
def flow_step(request, viewer: Viewer, flow: str, n: str):
    flow_, n = FLOWS[flow], int(n)
    is_open, diary_date = _flow_open(viewer, flow_)
    if not is_open:
        return redirect("diary:flow", flow=flow)
    steps = flow_.steps(viewer.participant)
    if not 1 <= n <= len(steps):
        return redirect("diary:flow_step", flow=flow, n=1)
    state = _flow_state(request, flow_, diary_date)
    first_open = _first_unanswered(state, len(steps))
    if first_open is not None and n > first_open:
        # No skipping ahead: every item is seen, in order.
        return redirect("diary:flow_step", flow=flow, n=first_open)
    code, item = steps[n - 1]
    returning = request.GET.get("return") == "review" or request.POST.get("return") == "review"
    error = None
    if request.method == "POST":
        raw = request.POST.get("answer", "")
        value = int(raw) if raw.lstrip("-").isdigit() and len(raw) < 10 else raw[:20]  # kept short in the audit
        given = {code: {item.number: value}}
        # No choice made is a question to answer, not an answer; one the instrument does not
        # have (a forged form) is refused and audited as every channel's refused diary is.
        problems = answer_problems(viewer.rules, flow_.timepoint, given, partial=True) if raw else None
        if problems:
            refuse_diary(participant=viewer.participant, channel=Channel.WEB, timepoint=flow_.timepoint, answers=given,
                         at=viewer.now, reason=Reason.INVALID_ANSWER, message=problems[0].message)
        elif problems is not None:
            state["answers"][str(n)] = value
            _save_flow_state(request, flow_, state)
            if returning or n == len(steps):
                return redirect("diary:flow_review", flow=flow)
            return redirect("diary:flow_step", flow=flow, n=n + 1)
        error = t(viewer.lang, "choose_answer")
    selected = state["answers"].get(str(n))
    back = (reverse("diary:flow_review", args=[flow]) if returning
            else reverse("diary:flow_step", args=[flow, n - 1]) if n > 1 else reverse("diary:flow", args=[flow]))
    return page(
        request, "diary/question.html", viewer.lang, status=400 if error else 200, viewer=viewer, flow=flow_,
        title=_flow_title(viewer.lang, flow_), progress=t(viewer.lang, "question_of", n=n, total=len(steps)),
        n=n, item=item, text=_item_text(item, viewer.lang, flow_.timepoint), choices=_choices(item, viewer.lang),
        selected=selected,
        nrs=item.kind == "nrs", anchor_low=item.anchor_low.get(viewer.lang) or item.anchor_low.get("en", ""),
        anchor_high=item.anchor_high.get(viewer.lang) or item.anchor_high.get("en", ""), error=error,
        back=back, returning=returning, diary_date=format_date(diary_date, viewer.lang),
    )


@participant_view
@require_GET
def flow_review(request, viewer: Viewer, flow: str):
    flow_ = FLOWS[flow]
    is_open, diary_date = _flow_open(viewer, flow_)
    if not is_open:
        return redirect("diary:flow", flow=flow)
    steps = flow_.steps(viewer.participant)
    state = _flow_state(request, flow_, diary_date)
    first_open = _first_unanswered(state, len(steps))
    if first_open is not None:
        return redirect("diary:flow_step", flow=flow, n=first_open)
    rows = []
    for n, (_code, item) in enumerate(steps, start=1):
        value = state["answers"][str(n)]
        label = item.label_of(value, viewer.lang) if item.kind == "options" else str(value)
        rows.append({"n": n, "text": _item_text(item, viewer.lang, flow_.timepoint), "answer": label,
                     "change": reverse("diary:flow_step", args=[flow, n]) + "?return=review",
                     "change_label": t(viewer.lang, "change_item", n=n)})
    return page(request, "diary/review.html", viewer.lang, viewer=viewer, flow=flow_,
                 title=_flow_title(viewer.lang, flow_), rows=rows, diary_date=format_date(diary_date, viewer.lang),
                 back=reverse("diary:flow_step", args=[flow, len(steps)]))


@participant_view
@require_POST
def flow_submit(request, viewer: Viewer, flow: str):
    flow_ = FLOWS[flow]
    p = viewer.participant
    steps = flow_.steps(p)
    saved = request.session.get(SESSION_FLOWS, {}).get(flow)
    if not saved or _first_unanswered(saved, len(steps)) is not None:
        return redirect("diary:flow", flow=flow)
    by_instrument: dict[str, dict[int, int]] = {}
    for n, (code, item) in enumerate(steps, start=1):
        by_instrument.setdefault(code, {})[item.number] = saved["answers"][str(n)]
    result = submit_diary(participant=p, channel=Channel.WEB, timepoint=flow_.timepoint, answers=by_instrument,
                          at=timezone.now())
    if not isinstance(result, Recorded):
        _save_flow_state(request, flow_, None)
        lines = [t(viewer.lang, "refused_closed")]
        if result.next_opens_at:
            lines.append(t(viewer.lang, "next_opens", when=viewer.when(result.next_opens_at)))
        return page(request, "diary/message.html", viewer.lang, status=409, viewer=viewer,
                     title=t(viewer.lang, "refused_title"), lines=lines, home_link=True)
    _save_flow_state(request, flow_, None)
    request.session[SESSION_DONE] = {"flow": flow, "date": result.diary_date.isoformat(),
                                     "corrected": result.corrected}
    return redirect("diary:flow_done", flow=flow)


@participant_view
@require_GET
def flow_done(request, viewer: Viewer, flow: str):
    flow_ = FLOWS[flow]
    done = request.session.get(SESSION_DONE)
    if not done or done.get("flow") != flow:
        return redirect("diary:home")
    d = date.fromisoformat(done["date"])
    lang = viewer.lang
    if flow_.timepoint == Timepoint.H12:
        lines = [t(lang, "h12_saved")]
    else:
        lines = [t(lang, "done_corrected" if done["corrected"] else "done_saved", date=format_date(d, lang))]
        s = daily_status(viewer.participant, viewer.now)
        if s.state == "done" and s.diary_date == d:
            lines.append(t(lang, "can_change_until", time=format_time(viewer.local(s.closes_at), lang)))
    return page(request, "diary/done.html", lang, viewer=viewer, title=t(lang, "done_title"), lines=lines,
                 diary_date=format_date(d, lang), flow=flow_)


# --- long-term phase: clearance and recurrence ------------------------------------------------


def _long_term_only(view):
    @functools.wraps(view)
    def wrapper(request, viewer: Viewer, *args, **kwargs):
        if viewer.participant.phase != Phase.LONG_TERM:
            return redirect("diary:home")
        return view(request, viewer, *args, **kwargs)

    return wrapper


@participant_view
@_long_term_only
@require_http_methods(["GET", "POST"])
def skin_clear(request, viewer: Viewer):
    lang = viewer.lang
    if request.method == "POST":
        report = treatment.report_clearance(participant=viewer.participant, channel=Channel.WEB, at=timezone.now())
        request.session[SESSION_DONE] = {"flow": "skin", "lines": [
            cleared_message(report, lang)]}
        return redirect("diary:skin_done")
    return page(request, "diary/skin_clear.html", lang, viewer=viewer, title=t(lang, "skin_clear_confirm"))


@participant_view
@_long_term_only
@require_http_methods(["GET", "POST"])
def skin_back(request, viewer: Viewer):
    lang = viewer.lang
    errors, values = {}, {}
    if request.method == "POST":
        for field in ("new_areas", "extensive"):
            raw = request.POST.get(field)
            if raw in ("yes", "no"):
                values[field] = raw
            else:
                errors[field] = t(lang, "choose_answer")
        if not errors:
            new_areas, extensive = values["new_areas"] == "yes", values["extensive"] == "yes"
            p = viewer.participant
            report = treatment.report_recurrence(participant=p, channel=Channel.WEB, at=timezone.now(),
                                                 new_areas=new_areas, extensive=extensive)
            lines = [t(lang, "skin_back_saved")]
            if report.site_will_call:
                lines.append(t(lang, "site_will_call", site=p.site.name, phone=p.site.phone))
            request.session[SESSION_DONE] = {"flow": "skin", "lines": lines}
            return redirect("diary:skin_done")
    questions = [
        {"name": "new_areas", "legend": t(lang, "q_new_areas"), "error": errors.get("new_areas"),
         "value": values.get("new_areas")},
        {"name": "extensive", "legend": t(lang, "q_extensive"), "error": errors.get("extensive"),
         "value": values.get("extensive")},
    ]
    return page(request, "diary/skin_back.html", lang, status=400 if errors else 200, viewer=viewer,
                 title=t(lang, "skin_back"), questions=questions)


@participant_view
@require_GET
def skin_done(request, viewer: Viewer):
    done = request.session.get(SESSION_DONE)
    if not done or done.get("flow") != "skin":
        return redirect("diary:home")
    return page(request, "diary/done.html", viewer.lang, viewer=viewer, title=t(viewer.lang, "done_title"),
                 lines=done["lines"])


# --- my history -------------------------------------------------------------------------------


@participant_view
@require_GET
def history(request, viewer: Viewer):
    p, lang = viewer.participant, viewer.lang
    # Only the session's participant, only current records: superseded answers are not "mine" any more.
    records = DiaryRecord.objects.current().filter(participant=p).order_by("-diary_date", "timepoint", "instrument")
    this_year = viewer.local(viewer.now).year
    days: dict[tuple, dict] = {}
    for r in records:
        row = days.setdefault((r.diary_date, r.timepoint), {
            "date": format_day(r.diary_date, lang, this_year=this_year), "h12": r.timepoint == Timepoint.H12,
            "itch": None, "sleep": None, "via": set()})
        if r.instrument == "ITCH_NRS":
            row["itch"] = r.derived.get("itch")
        else:
            row["sleep"] = t(lang, "sleep_answered", n=r.derived.get("answered", len(r.answers)))
        row["via"].add(t(lang, f"via_{r.channel}"))
    rows = [row | {"via": ", ".join(sorted(row["via"]))} for row in days.values()]
    daily_itch = sorted((d, row["itch"]) for (d, tp), row in days.items()
                        if tp == Timepoint.DAILY and row["itch"] is not None)
    events = TreatmentEvent.objects.filter(participant=p, superseded_by__isnull=True).order_by("-reported_at")
    event_rows = [{"date": format_date(e.event_date, lang), "kind": t(lang, f"event_{e.kind}")} for e in events]
    return page(request, "diary/history.html", lang, viewer=viewer, title=t(lang, "history_title"), rows=rows,
                 chart=itch_chart(daily_itch, lang), events=event_rows)


def itch_chart(points: list[tuple], lang: str) -> dict | None:
    """Coordinates for a small inline SVG line chart of daily itch (0..10) over diary dates."""
    if not points:
        return None
    width, height, left, right, top, bottom = 320, 180, 28, 8, 10, 30
    first, last = points[0][0], points[-1][0]
    span = max((last - first).days, 1)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(d):
        return round(left + plot_w * ((d - first).days / span) if len(points) > 1 else left + plot_w / 2, 1)

    def y(v):
        return round(top + plot_h * (10 - v) / 10, 1)

    dots = [{"x": x(d), "y": y(v), "label": f"{format_short_date(d, lang)}: {v}"} for d, v in points]
    return {
        "width": width, "height": height, "left": left, "right": width - right, "bottom": top + plot_h,
        "top": top, "polyline": " ".join(f"{p['x']},{p['y']}" for p in dots), "dots": dots,
        "gridlines": [{"y": y(v), "label": v} for v in (0, 5, 10)],
        "first_label": format_short_date(first, lang), "first_x": dots[0]["x"] if len(dots) == 1 else left,
        "first_anchor": "middle" if len(dots) == 1 else "start",
        "last_label": format_short_date(last, lang) if last != first else "",
        "label_y": height - 8,
        "desc": t(lang, "chart_desc", first=format_date(first, lang), last=format_date(last, lang)),
    }
