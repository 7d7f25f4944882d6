"""Letters: a parsed mail in, a `Letter` out (type, fields with evidence, findings).

Pure: no Flask, no database. Entry point: ``read(mail) -> Letter``; see `model.py` for the shape.
"""

from .codes import CodeMatch, find_codes, is_valid_org_code, is_valid_uscc, repair_uscc
from .model import FIELD_NAMES, LETTER_TYPES, Evidence, Field, Finding, Letter, SourceInfo
from .reader import read
from .sniff import sniff
from .templates import blank_template

__all__ = [
    "FIELD_NAMES",
    "LETTER_TYPES",
    "CodeMatch",
    "Evidence",
    "Field",
    "Finding",
    "Letter",
    "SourceInfo",
    "blank_template",
    "find_codes",
    "is_valid_org_code",
    "is_valid_uscc",
    "read",
    "repair_uscc",
    "sniff",
]
