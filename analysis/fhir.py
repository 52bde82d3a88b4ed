"""FHIR R4 views of the diaries: the instruments as versioned Questionnaires, each diary record as a
QuestionnaireResponse, together as a Bundle (in the transfer and from the sponsor API).

The subject is the USUBJID as an identifier, never a phone number or a name. A record a
later correction superseded is `amended` and points to its successor; the current one is
`completed` and points to what it replaced.
"""

from __future__ import annotations

from django.conf import settings

from diaries.models import Study

TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
BUNDLE_FILE = "fhir_bundle.json"


def base_url() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + "/fhir"


def subject_system(study: Study) -> str:
    return f"{base_url()}/NamingSystem/{study.code}/usubjid"


def extension_url(name: str) -> str:
    return f"{base_url()}/StructureDefinition/{name}"


def questionnaire_id(study: Study, instrument: str) -> str:
    """A FHIR id ([A-Za-z0-9-.]): ITCH_NRS becomes TRUE-AD-ITCH-NRS."""
    return f"{study.code}-{instrument}".replace("_", "-")


def questionnaire_url(study: Study, instrument: str) -> str:
    return f"{base_url()}/Questionnaire/{questionnaire_id(study, instrument)}"


def questionnaire_version(study: Study) -> str:
    """The study configuration's version: item texts and options change only with it."""
    return study.config_hash[:12]


def questionnaires(study: Study) -> list[dict]:
    """The study's instruments as Questionnaires, with item texts in every study language and scored options."""
    rules = study.rules
    resources = []
    for code in ("ITCH_NRS", "PROMIS_SD8B"):
        instrument = rules.instrument(code)
        resources.append({
            "resourceType": "Questionnaire",
            "id": questionnaire_id(study, code),
            "url": questionnaire_url(study, code),
            "version": questionnaire_version(study),
            "name": code.replace("_", ""),
            "title": instrument.name,
            "status": "active",
            "subjectType": ["Patient"],
            "item": [_item(item, rules.languages) for item in instrument.items],
        })
    return resources


def _item(item, languages) -> dict:
    resource = {"linkId": item.id, "text": item.text["en"], "_text": _translations(item.text, languages),
                "required": True}
    if item.kind == "nrs":
        resource["type"] = "integer"
        resource["extension"] = [{"url": MIN_VALUE, "valueInteger": item.min},
                                 {"url": MAX_VALUE, "valueInteger": item.max}]
        return resource
    resource["type"] = "choice"
    resource["answerOption"] = [
        {"valueCoding": {"code": str(option.number), "display": option.labels["en"],
                         "_display": _translations(option.labels, languages)},
         # The stored score (reversed items: 6 - option), as in QSSTRESN.
         "extension": [{"url": ORDINAL_VALUE, "valueDecimal": option.score}]}
        for option in item.options
    ]
    return resource


def _translations(texts: dict[str, str], languages) -> dict:
    return {"extension": [
        {"url": TRANSLATION, "extension": [{"url": "lang", "valueCode": lang}, {"url": "content", "valueString": text}]}
        for lang, text in texts.items() if lang != "en" and lang in languages]}


class Responses:
    """Turns diary records (selectors.fhir_records rows) into QuestionnaireResponses of one study.

    Everything that is the same for every record (canonical URLs, item codes, option
    labels) is worked out once: a trial has a response per diary submission.
    """

    def __init__(self, study: Study):
        rules = study.rules
        version = questionnaire_version(study)
        self.questionnaire = {code: f"{questionnaire_url(study, code)}|{version}"
                              for code in ("ITCH_NRS", "PROMIS_SD8B")}
        self.items = {(code, item.number): item for code in self.questionnaire
                      for item in rules.instrument(code).items}
        self.system = subject_system(study)
        self.urls = {name: extension_url(name) for name in ("diary-date", "timepoint", "superseded-by", "supersedes")}
        self.answers: dict[tuple, dict] = {}

    def response(self, record: dict) -> dict:
        """`record`: id, usubjid, instrument, timepoint, diary_date, answers, submitted_at, supersedes_id and
        successor_id (the record that superseded it; None when current)."""
        instrument = record["instrument"]
        urls = self.urls
        extensions = [{"url": urls["diary-date"], "valueDate": record["diary_date"].isoformat()},
                      {"url": urls["timepoint"], "valueCode": record["timepoint"]}]
        if record["successor_id"]:
            extensions.append({"url": urls["superseded-by"],
                               "valueReference": {"reference": f"QuestionnaireResponse/{record['successor_id']}"}})
        if record["supersedes_id"]:
            extensions.append({"url": urls["supersedes"],
                               "valueReference": {"reference": f"QuestionnaireResponse/{record['supersedes_id']}"}})
        return {
            "resourceType": "QuestionnaireResponse",
            "id": str(record["id"]),
            "questionnaire": self.questionnaire[instrument],
            "status": "amended" if record["successor_id"] else "completed",
            "subject": {"identifier": {"system": self.system, "value": record["usubjid"]}},
            "authored": record["submitted_at"].isoformat(timespec="seconds"),
            "extension": extensions,
            "item": [self._answer(instrument, a) for a in sorted(record["answers"], key=lambda a: a["item"])],
        }

    def _answer(self, instrument: str, answer: dict) -> dict:
        key = (instrument, answer["item"], answer.get("option"), answer["score"])
        cached = self.answers.get(key)
        if cached is None:
            item = self.items[(instrument, answer["item"])]
            if item.kind == "nrs":
                value = {"valueInteger": answer["score"]}
            else:
                option = answer.get("option") or next(o.number for o in item.options if o.score == answer["score"])
                value = {"valueCoding": {"code": str(option), "display": item.label_of(option, "en")}}
            cached = self.answers[key] = {"linkId": item.id, "answer": [value]}
        return cached


def bundle(study: Study, records, *, bundle_type: str = "collection", links=None, total=None) -> dict:
    """A Bundle of the study's Questionnaires and a QuestionnaireResponse per record (selectors.fhir_records)."""
    writer = Responses(study)
    resources = [*questionnaires(study), *(writer.response(r) for r in records)]
    result = {"resourceType": "Bundle", "type": bundle_type}
    if total is not None:
        result["total"] = total
    if links:
        result["link"] = [{"relation": relation, "url": url} for relation, url in links.items() if url]
    result["entry"] = [entry(r) for r in resources]
    return result


def entry(resource: dict) -> dict:
    return {"fullUrl": f"{base_url()}/{resource['resourceType']}/{resource['id']}", "resource": resource}
