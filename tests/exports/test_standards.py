"""The standards outputs of a transfer: Dataset-JSON 1.1 (against the CDISC model), Define-XML 2.1, FHIR R4."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest
import yaml
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from analysis.export import export_transfer
from analysis.standards import ADQS, QS
from diaries.models import DiaryRecord
from tests.conftest import CHICAGO, answer, enroll, write_diaries

pytestmark = pytest.mark.django_db
SCHEMAS = Path(__file__).parent / "schemas"
NOW = datetime(2026, 3, 23, 12, 0, tzinfo=UTC)
ODM = "{http://www.cdisc.org/ns/odm/v1.3}"
DEF = "{http://www.cdisc.org/ns/def/v2.1}"


def dataset_json_schema() -> dict:
    """JSON Schema of the CDISC Dataset-JSON 1.1 LinkML model (tests/exports/schemas/README.md)."""
    model = yaml.safe_load((SCHEMAS / "dataset-json-1.1.linkml.yaml").read_text())
    enums = {name: {"type": "string", "enum": list(spec["permissible_values"])}
             for name, spec in model["enums"].items()}

    def slot(spec: dict) -> dict:
        kind = spec.get("range", model["default_range"])
        if kind == "AnyType":  # a row's value: any of the listed scalar types, or null for a missing value
            item = {"type": ["string", "number", "integer", "boolean", "null"]}
        elif kind == "integer":
            item = {"type": "integer"}
        elif kind == "boolean":
            item = {"type": "boolean"}
        elif kind in enums:
            item = {"$ref": f"#/$defs/{kind}"}
        elif kind in model["classes"]:
            item = {"$ref": f"#/$defs/{kind}"}
        else:
            item = {"type": "string"}
        if "pattern" in spec:
            item["pattern"] = spec["pattern"]
        if "minimum_value" in spec:
            item["minimum"] = spec["minimum_value"]
        return {"type": "array", "items": item} if spec.get("multivalued") else item

    def klass(spec: dict) -> dict:
        attributes = spec["attributes"]
        return {"type": "object", "additionalProperties": False,
                "properties": {name: slot(a or {}) for name, a in attributes.items()},
                "required": [name for name, a in attributes.items() if (a or {}).get("required")]}

    defs = {**enums, **{name: klass(spec) for name, spec in model["classes"].items()}}
    # A Row is a list of values (the generator's Row class is the list itself).
    defs["Row"] = defs["Row"]["properties"]["value"]
    root = dict(defs["Dataset"], additionalProperties=True)
    return {"$schema": "https://json-schema.org/draft/2019-09/schema", "$defs": defs, **root}


@pytest.fixture
def transfer(study, alice, tmp_path):
    carol = enroll(study, "TRUE-AD-101-0003", phone="+13125550133", zone="America/Chicago",
                   first_application_at=datetime(2026, 3, 8, 9, 0, tzinfo=CHICAGO))
    for p, itch0, drop in ((alice, 8, 5), (carol, 7, 1)):
        write_diaries(p, itch0=itch0, drop=drop)
    # carol corrects her Day 2 itch within the window: the first answer is superseded, kept, amended.
    answer(participant=carol, instrument="ITCH_NRS", answers={1: 2}, at=datetime(2026, 3, 9, 20, 30, tzinfo=CHICAGO))
    answer(participant=alice, instrument="ITCH_NRS", timepoint="H12", answers={1: 6},
           at=alice.first_application_at + timedelta(hours=12))
    manifest = export_transfer(study=study, directory=tmp_path / "t", unblinded=False, now=NOW,
                               formats=["csv", "datasetjson", "fhir"])
    return tmp_path / "t", manifest, (alice, carol)


def test_dataset_json_files_validate_against_the_cdisc_model(transfer):
    directory, manifest, _ = transfer
    schema = dataset_json_schema()
    jsonschema.Draft201909Validator.check_schema(schema)
    for dataset in (QS, ADQS):
        document = json.loads((directory / f"{dataset.name}.json").read_text())
        jsonschema.Draft201909Validator(schema).validate(document)
        rows = len((directory / f"{dataset.name}.csv").read_text().splitlines()) - 1
        assert document["records"] == len(document["rows"]) == rows > 0
        assert document["datasetJSONVersion"] == "1.1.0" and document["metaDataRef"] == "define.xml"
        assert document["datasetJSONCreationDateTime"] == "2026-03-23T12:00:00+00:00"
        assert document["studyOID"] == "TRUE-AD" and document["itemGroupOID"] == f"IG.{dataset.name.upper()}"
        assert [c["name"] for c in document["columns"]] == [v.name for v in dataset.variables]
        assert all(len(row) == len(document["columns"]) for row in document["rows"])
    adqs = json.loads((directory / "adqs.json").read_text())
    names = [c["name"] for c in adqs["columns"]]
    baseline = next(r for r in adqs["rows"] if r[names.index("AVISIT")] == "BASELINE")
    assert baseline[names.index("ADY")] is None and isinstance(baseline[names.index("AVAL")], float | int)
    assert {"dataType": "string", "length": 8} == {k: v for k, v in adqs["columns"][names.index("PARAMCD")].items()
                                                    if k in ("dataType", "length")}
    # A file that breaks the model is caught: the validation is not vacuous.
    broken = dict(adqs, records=-1)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft201909Validator(schema).validate(broken)
    assert {"qs.json", "adqs.json", "define.xml", "fhir_bundle.json"} <= {f["name"] for f in manifest["files"]}


def test_define_xml_describes_the_datasets_variables_codelist_and_origins(transfer):
    directory, _, _ = transfer
    root = ET.parse(directory / "define.xml").getroot()
    assert root.tag == f"{ODM}ODM" and root.get("ODMVersion") == "1.3.2" and root.get("FileType") == "Snapshot"
    mdv = root.find(f"{ODM}Study/{ODM}MetaDataVersion")
    assert mdv.get(f"{DEF}DefineVersion") == "2.1.0"
    assert [s.get("Name") for s in mdv.find(f"{DEF}Standards")] == ["SDTMIG", "ADaMIG"]
    groups = {g.get("Name"): g for g in mdv.findall(f"{ODM}ItemGroupDef")}
    assert set(groups) == {"QS", "ADQS"}
    items = {i.get("OID"): i for i in mdv.findall(f"{ODM}ItemDef")}
    methods = {m.get("OID"): m for m in mdv.findall(f"{ODM}MethodDef")}
    for dataset in (QS, ADQS):
        group = groups[dataset.name.upper()]
        refs = group.findall(f"{ODM}ItemRef")
        assert [r.get("ItemOID") for r in refs] == [f"IT.{dataset.name.upper()}.{v.name}" for v in dataset.variables]
        assert group.find(f"{DEF}leaf").get("{http://www.w3.org/1999/xlink}href") == f"{dataset.name}.json"
        # Element order of the standard: Description, ItemRef..., def:Class, def:leaf.
        assert [c.tag for c in group][0] == f"{ODM}Description" and [c.tag for c in group][-2:] == [
            f"{DEF}Class", f"{DEF}leaf"]
        for ref in refs:
            item = items[ref.get("ItemOID")]
            origin = item.find(f"{DEF}Origin").get("Type")
            assert origin in ("Collected", "Derived", "Assigned")
            if origin == "Derived":  # derived: a method with the derivation text
                text = methods[ref.get("MethodOID")].find(f"{ODM}Description/{ODM}TranslatedText").text
                assert text
    assert items["IT.QS.QSORRES"].find(f"{DEF}Origin").get("Type") == "Collected"
    assert "AVAL - BASE" in methods["MT.ADQS.CHG"].find(f"{ODM}Description/{ODM}TranslatedText").text
    codelist = mdv.find(f"{ODM}CodeList[@OID='CL.PARAMCD']")
    assert [c.get("CodedValue") for c in codelist] == ["ITCHNRS", "ITCHH12", "ITCHNRSW", "PSDSB998", "PSDSB98W",
                                                       "PSDSB999", "PSDSB99W"]
    assert items["IT.ADQS.PARAMCD"].find(f"{ODM}CodeListRef").get("CodeListOID") == "CL.PARAMCD"
    # Every ItemRef points to an ItemDef and every MethodOID to a MethodDef.
    for ref in mdv.iter(f"{ODM}ItemRef"):
        assert ref.get("ItemOID") in items and (ref.get("MethodOID") is None or ref.get("MethodOID") in methods)


def test_fhir_bundle_validates_with_the_r4b_models(transfer):
    directory, _, (alice, carol) = transfer
    document = json.loads((directory / "fhir_bundle.json").read_text())
    bundle = Bundle.model_validate(document)
    resources = [e.resource for e in bundle.entry]
    questionnaires = [r for r in resources if isinstance(r, Questionnaire)]
    assert [q.id for q in questionnaires] == ["TRUE-AD-ITCH-NRS", "TRUE-AD-PROMIS-SD8B"]
    promis = questionnaires[1]
    assert len(promis.item) == 8 and promis.version
    satisfied = promis.item[1]  # Sleep115, reversed: option 1 ("Not at all") scores 5
    assert satisfied.answerOption[0].valueCoding.display == "Not at all"
    assert satisfied.answerOption[0].extension[0].valueDecimal == 5
    spanish = document["entry"][1]["resource"]["item"][0]["_text"]["extension"][0]["extension"]
    assert spanish[0] == {"url": "lang", "valueCode": "es"} and spanish[1]["valueString"]

    responses = [r for r in resources if isinstance(r, QuestionnaireResponse)]
    assert len([r for r in responses if r.status == "completed"]) == DiaryRecord.objects.current().count()
    amended = [r for r in responses if r.status == "amended"]
    assert len(amended) == 1
    successor_ref = next(e.valueReference.reference for e in amended[0].extension if e.url.endswith("superseded-by"))
    successor = next(r for r in responses if f"QuestionnaireResponse/{r.id}" == successor_ref)
    assert successor.status == "completed" and successor.item[0].answer[0].valueInteger == 2
    assert {r.subject.identifier.value for r in responses} == {alice.usubjid, carol.usubjid}
    assert all(r.questionnaire.endswith("|" + promis.version) for r in responses)
    for phone in (alice.phone, carol.phone, alice.phone[2:], carol.phone[2:]):
        assert phone not in json.dumps(document)


def test_no_phone_number_in_any_new_file(transfer):
    directory, _, (alice, carol) = transfer
    for name in ("qs.json", "adqs.json", "define.xml", "fhir_bundle.json", "report.html", "definitions.md",
                 "manifest.json"):
        text = (directory / name).read_text()
        for phone in (alice.phone, carol.phone, alice.phone[2:], carol.phone[2:]):
            assert phone not in text, name
