"""CDISC outputs of the transfer: Dataset-JSON v1.1 for qs and adqs, and the Define-XML 2.1 describing them.

Both come from one table of variable metadata (VARIABLES): name, label, type, length,
origin and, for derived variables, how they are derived. The Dataset-JSON files carry
`metaDataRef` to define.xml and the same item OIDs, so a reviewer's tool can join them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd

from analysis.derived import PARAMETERS

DATASET_JSON_VERSION = "1.1.0"
DEFINE_FILE = "define.xml"
ODM = "http://www.cdisc.org/ns/odm/v1.3"
DEF = "http://www.cdisc.org/ns/def/v2.1"
XLINK = "http://www.w3.org/1999/xlink"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    type: str  # Dataset-JSON dataType: string, integer, double, date, datetime
    length: int | None = None  # strings only
    origin: str = "Derived"  # Collected, Derived or Assigned (Define-XML def:Origin/@Type)
    derivation: str = ""  # the method of a derived variable
    key: int | None = None  # keySequence
    codelist: bool = False  # values from the PARAMCD codelist


@dataclass(frozen=True)
class Dataset:
    name: str  # file stem: qs, adqs
    label: str
    structure: str
    klass: str  # Define-XML def:Class
    purpose: str  # Tabulation or Analysis
    standard: str
    variables: tuple[Variable, ...]


_SOURCE_RECORD = "From the current diary record (superseded corrections are kept in the database, not here)"
QS = Dataset("qs", "Questionnaires", "One record per questionnaire item or derived score per diary submission",
             "FINDINGS", "Tabulation", "SDTMIG", (
    Variable("STUDYID", "Study Identifier", "string", 40, "Assigned", key=1),
    Variable("DOMAIN", "Domain Abbreviation", "string", 2, "Assigned"),
    Variable("USUBJID", "Unique Subject Identifier", "string", 40, "Assigned", key=2),
    Variable("QSSEQ", "Sequence Number", "integer", origin="Derived", key=3,
             derivation="1, 2, ... per subject in order of QSDTC, then QSTESTCD"),
    Variable("QSTESTCD", "Question Short Name", "string", 8, "Assigned"),
    Variable("QSTEST", "Question Name", "string", 200, "Assigned"),
    Variable("QSCAT", "Category of Question", "string", 60, "Assigned"),
    Variable("QSORRES", "Finding in Original Units", "string", 40, "Collected"),
    Variable("QSSTRESC", "Character Result/Finding in Std Format", "string", 40, "Derived",
             derivation="The item score as text (PROMIS items 2, 3, 7 and 8 reversed: 6 - option)"),
    Variable("QSSTRESN", "Numeric Result/Finding in Standard Units", "double", origin="Derived",
             derivation="The item score; on QSDRVFL = Y rows the PROMIS SD 8b raw score (prorated from 4-7 items) "
                        "or its T-score from the conversion table"),
    Variable("QSDRVFL", "Derived Flag", "string", 1, "Derived", derivation="Y on the derived PROMIS score rows"),
    Variable("QSEVLINT", "Evaluation Interval", "string", 10, "Assigned"),
    Variable("QSDTC", "Date/Time of Finding", "datetime", origin="Collected"),
    Variable("QSDY", "Study Day of Finding", "integer", origin="Derived",
             derivation="Study day of the diary date: date - Day 1 + 1 on or after Day 1, date - Day 1 before (no "
                        "Day 0)"),
    Variable("QSTPT", "Planned Time Point Name", "string", 10, "Assigned"),
))
ADQS = Dataset("adqs", "Diary Endpoint Analysis Dataset", "One record per subject per parameter per analysis visit",
               "BASIC DATA STRUCTURE", "Analysis", "ADaMIG", (
    Variable("USUBJID", "Unique Subject Identifier", "string", 40, "Assigned", key=1),
    Variable("SITEID", "Study Site Identifier", "string", 20, "Assigned"),
    Variable("ARM", "Description of Planned Arm", "string", 40, "Assigned"),
    Variable("PARAMCD", "Parameter Code", "string", 8, "Assigned", key=2, codelist=True),
    Variable("PARAM", "Parameter", "string", 200, "Assigned"),
    Variable("AVISIT", "Analysis Visit", "string", 20, "Derived",
             derivation="BASELINE, DAY d, DAY 1 HOUR 12 or WEEK w"),
    Variable("AVISITN", "Analysis Visit (N)", "integer", origin="Derived", key=3,
             derivation="0 for baseline, the study day d, 1 for hour 12, the week w"),
    Variable("ADY", "Analysis Relative Day", "integer", origin="Derived",
             derivation="Study day of the diary date; on weekly rows the visit day (the recorded visit, else 7w + 1)"),
    Variable("AVAL", "Analysis Value", "double", origin="Derived",
             derivation="The daily value; weekly: mean of the daily values of study days v-7..v-1 (at least 4); "
                        "baseline: mean of Days -7..-1 (at least 4). Nothing after the data cut-off"),
    Variable("BASE", "Baseline Value", "double", origin="Derived", derivation="AVAL of the BASELINE row"),
    Variable("CHG", "Change from Baseline", "double", origin="Derived", derivation="AVAL - BASE"),
    Variable("PCHG", "Percent Change from Baseline", "double", origin="Derived",
             derivation="100 * CHG / BASE; missing for a zero baseline and for T-scores"),
    Variable("ABLFL", "Baseline Record Flag", "string", 1, "Derived", derivation="Y on the BASELINE row"),
    Variable("DTYPE", "Derivation Type", "string", 10, "Derived", derivation="AVERAGE on baseline and weekly rows"),
    Variable("NVALS", "Number of Daily Values Averaged", "integer", origin="Derived",
             derivation="Count of daily values in the mean (1 on daily and hour 12 rows)"),
))
DATASETS = (QS, ADQS)


def oid(dataset: Dataset, variable: Variable | None = None) -> str:
    return f"IT.{dataset.name.upper()}.{variable.name}" if variable else f"IG.{dataset.name.upper()}"


def write_dataset_json(directory: Path, *, study: str, metadata_version: str, created_at: datetime,
                       source_version: str) -> list[str]:
    """qs.json and adqs.json (Dataset-JSON 1.1) from the transfer's CSV files; returns the names written."""
    written = []
    for dataset in DATASETS:
        frame = pd.read_csv(directory / f"{dataset.name}.csv", dtype=str, keep_default_na=False, engine="pyarrow")
        header = {
            "datasetJSONCreationDateTime": created_at.isoformat(timespec="seconds"),
            "datasetJSONVersion": DATASET_JSON_VERSION,
            "fileOID": f"{study}.{metadata_version}.{dataset.name.upper()}",
            "originator": "eprp",
            "sourceSystem": {"name": "eprp", "version": source_version},
            "studyOID": study,
            "metaDataVersionOID": metadata_version,
            "metaDataRef": DEFINE_FILE,
            "itemGroupOID": oid(dataset),
            "records": len(frame),
            "name": dataset.name.upper(),
            "label": dataset.label,
            "columns": [_column(dataset, v) for v in dataset.variables],
        }
        columns = [_json_texts(frame[v.name], v.type) for v in dataset.variables]
        rows = ",\n".join("[" + ",".join(row) + "]" for row in zip(*columns, strict=True))
        target = directory / f"{dataset.name}.json"
        target.write_text(json.dumps(header, ensure_ascii=False)[:-1] + ', "rows": [\n' + rows + "\n]}\n",
                          encoding="utf-8")
        written.append(target.name)
    return written


def _column(dataset: Dataset, variable: Variable) -> dict:
    column = {"itemOID": oid(dataset, variable), "name": variable.name, "label": variable.label,
              "dataType": variable.type}
    if variable.length:
        column["length"] = variable.length
    if variable.key:
        column["keySequence"] = variable.key
    return column


def _json_texts(text: pd.Series, kind: str) -> np.ndarray:
    """Each cell's JSON text: numbers as numbers, empty as null. Encoded once per distinct value
    (qs has a million rows and a few hundred distinct values per column)."""
    codes, uniques = pd.factorize(text.to_numpy(dtype=object))
    convert = {"integer": int, "double": float}.get(kind, str)
    encoded = np.array([json.dumps(convert(v), ensure_ascii=False) if v != "" else "null" for v in uniques],
                       dtype=object)
    return encoded[codes] if len(codes) else np.array([], dtype=object)


def write_define_xml(directory: Path, *, study: str, study_name: str, metadata_version: str,
                     created_at: datetime) -> str:
    """define.xml (Define-XML 2.1) describing qs and adqs: datasets, variables, PARAMCD codelist, origins, methods."""
    ET.register_namespace("", ODM)
    ET.register_namespace("def", DEF)
    ET.register_namespace("xlink", XLINK)
    root = ET.Element(f"{{{ODM}}}ODM", {
        "FileType": "Snapshot", "FileOID": f"{study}.{metadata_version}.DEFINE", "ODMVersion": "1.3.2",
        "CreationDateTime": created_at.isoformat(timespec="seconds"), "Originator": "eprp", "SourceSystem": "eprp",
        f"{{{DEF}}}Context": "Other",
    })
    study_el = ET.SubElement(root, f"{{{ODM}}}Study", {"OID": study})
    globals_el = ET.SubElement(study_el, f"{{{ODM}}}GlobalVariables")
    for tag, text in (("StudyName", study), ("StudyDescription", study_name or study), ("ProtocolName", study)):
        ET.SubElement(globals_el, f"{{{ODM}}}{tag}").text = text
    mdv = ET.SubElement(study_el, f"{{{ODM}}}MetaDataVersion", {
        "OID": metadata_version, "Name": f"{study} diary transfer", f"{{{DEF}}}DefineVersion": "2.1.0"})
    standards = ET.SubElement(mdv, f"{{{DEF}}}Standards")
    for standard, version in (("SDTMIG", "3.4"), ("ADaMIG", "1.3")):
        ET.SubElement(standards, f"{{{DEF}}}Standard", {"OID": f"STD.{standard}", "Name": standard, "Type": "IG",
                                                        "Version": version, "Status": "Final"})
    methods = []
    for dataset in DATASETS:
        group = ET.SubElement(mdv, f"{{{ODM}}}ItemGroupDef", {
            "OID": oid(dataset), "Name": dataset.name.upper(), "Repeating": "Yes", "IsReferenceData": "No",
            "SASDatasetName": dataset.name.upper(), "Purpose": dataset.purpose,
            f"{{{DEF}}}Structure": dataset.structure, f"{{{DEF}}}StandardOID": f"STD.{dataset.standard}",
            f"{{{DEF}}}ArchiveLocationID": f"LF.{dataset.name.upper()}"})
        _description(group, dataset.label)
        for order, variable in enumerate(dataset.variables, start=1):
            attributes = {"ItemOID": oid(dataset, variable), "OrderNumber": str(order),
                          "Mandatory": "Yes" if variable.key else "No"}
            if variable.key:
                attributes["KeySequence"] = str(variable.key)
            if variable.derivation:
                attributes["MethodOID"] = f"MT.{dataset.name.upper()}.{variable.name}"
                methods.append((attributes["MethodOID"], dataset, variable))
            ET.SubElement(group, f"{{{ODM}}}ItemRef", attributes)
        ET.SubElement(group, f"{{{DEF}}}Class", {"Name": dataset.klass})
        leaf = ET.SubElement(group, f"{{{DEF}}}leaf", {"ID": f"LF.{dataset.name.upper()}",
                                                       f"{{{XLINK}}}href": f"{dataset.name}.json"})
        ET.SubElement(leaf, f"{{{DEF}}}title").text = f"{dataset.name}.json"
    for dataset in DATASETS:
        for variable in dataset.variables:
            attributes = {"OID": oid(dataset, variable), "Name": variable.name, "DataType": _odm_type(variable),
                          "SASFieldName": variable.name}
            if variable.length:
                attributes["Length"] = str(variable.length)
            item = ET.SubElement(mdv, f"{{{ODM}}}ItemDef", attributes)
            _description(item, variable.label)
            if variable.codelist:
                ET.SubElement(item, f"{{{ODM}}}CodeListRef", {"CodeListOID": "CL.PARAMCD"})
            origin = {"Type": variable.origin}
            if variable.origin == "Collected":
                origin["Source"] = "Subject"
            ET.SubElement(item, f"{{{DEF}}}Origin", origin)
    codelist = ET.SubElement(mdv, f"{{{ODM}}}CodeList", {"OID": "CL.PARAMCD", "Name": "Parameter Code",
                                                          "DataType": "text"})
    for parameter in PARAMETERS:
        entry = ET.SubElement(codelist, f"{{{ODM}}}CodeListItem", {"CodedValue": parameter.paramcd})
        decode = ET.SubElement(entry, f"{{{ODM}}}Decode")
        ET.SubElement(decode, f"{{{ODM}}}TranslatedText", {XML_LANG: "en"}).text = parameter.param
    for method_oid, dataset, variable in methods:
        method = ET.SubElement(mdv, f"{{{ODM}}}MethodDef", {
            "OID": method_oid, "Name": f"{dataset.name.upper()}.{variable.name}", "Type": "Computation"})
        _description(method, variable.derivation)
    ET.indent(root)
    target = directory / DEFINE_FILE
    ET.ElementTree(root).write(target, encoding="UTF-8", xml_declaration=True)
    return target.name


def _description(parent, text: str) -> None:
    description = ET.SubElement(parent, f"{{{ODM}}}Description")
    ET.SubElement(description, f"{{{ODM}}}TranslatedText", {XML_LANG: "en"}).text = text


def _odm_type(variable: Variable) -> str:
    return {"string": "text", "integer": "integer", "double": "float", "datetime": "datetime",
            "date": "date"}[variable.type]
