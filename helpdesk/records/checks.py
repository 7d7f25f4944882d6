"""Code checks with a Chinese reason, shared by the importer, the findings and the resolutions."""

from __future__ import annotations

from helpdesk.letters import codes


def uscc_problem(code: str) -> str | None:
    """Why `code` (normalised) is not a valid 统一社会信用代码, or None when it is."""
    if len(code) != 18:
        return f"统一社会信用代码应为 18 位，“{code}”为 {len(code)} 位"
    bad = sorted({c for c in code if c not in codes.USCC_ALPHABET})
    if bad:
        return f"统一社会信用代码“{code}”含有不允许的字符 {'、'.join(bad)}（不使用 I、O、S、V、Z）"
    if not codes.uscc_checksum_ok(code):
        return f"统一社会信用代码“{code}”校验位不正确{_suggest(codes.repair_uscc(code), code)}"
    if not codes.is_valid_org_code(code[8:17]):
        return f"统一社会信用代码“{code}”第 9-17 位的组织机构代码校验不通过"
    return None


def org_code_problem(code: str) -> str | None:
    """Why `code` (normalised, no hyphen) is not a valid 组织机构代码, or None when it is."""
    if len(code) != 9:
        return f"组织机构代码应为 9 位（不含“-”），“{code}”为 {len(code)} 位"
    if not code.isalnum() or not code.isascii():
        return f"组织机构代码“{code}”含有不允许的字符"
    if not codes.is_valid_org_code(code):
        return f"组织机构代码“{code}”校验位不正确{_suggest(codes.repair_org_code(code), code)}"
    return None


def _suggest(fixed: str | None, code: str) -> str:
    # a suggestion for the person fixing the file; the value is never changed on our own
    return f"（若只错一位，可能应为 {fixed}）" if fixed and fixed != code else ""


def display_org_code(code: str | None) -> str:
    """ "XXXXXXXX-X", as printed on certificates."""
    return f"{code[:8]}-{code[8]}" if code and len(code) == 9 else (code or "")
