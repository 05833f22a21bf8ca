"""Masking of personal data for roles that do not need it in full."""

from __future__ import annotations


def mask_name(name: str) -> str:
    """张三丰 -> 张**; keeps the surname only."""
    return name[:1] + "*" * (len(name) - 1) if name else ""


def mask_phone(phone: str) -> str:
    """13812345678 -> 138****5678."""
    digits = phone.strip()
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id_number(id_number: str) -> str:
    """440308199001011234 -> 440308********1234 (area code and last four kept)."""
    if len(id_number) < 10:
        return "*" * len(id_number)
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def mask_personal(name: str, phone: str, id_number: str) -> dict[str, str]:
    return {"head_name": mask_name(name), "phone": mask_phone(phone), "id_number": mask_id_number(id_number)}


def personal_fields(household: object, *, pii: bool) -> dict[str, str]:
    """Head of household, phone and ID number as the viewer may see them."""
    name = getattr(household, "head_name", "")
    phone = getattr(household, "phone", "")
    id_number = getattr(household, "id_number", "")
    if pii:
        return {"head_name": name, "phone": phone, "id_number": id_number}
    return mask_personal(name, phone, id_number)
