"""Checksums and validity rules that keep the PII detectors precise.

Regexes find candidates; these functions reject the ones that cannot be real:

- :func:`luhn_ok`: the Luhn mod-10 check digit (ISO/IEC 7812-1) of payment cards and Canadian SINs.
- :func:`card_prefix_ok`: issuer identification number ranges of the major card networks.
- :func:`iban_ok`: the ISO 13616 mod-97 check and the per-country length of an IBAN.
- :func:`dni_letter_ok`: the mod-23 check letter of a Spanish DNI/NIE.
- :func:`looks_random`: a cheap character-diversity test that tells tokens from placeholders
  like ``ghp_XXXXXXXX``.
"""

from __future__ import annotations

import re

# ISO 13616 registry (SWIFT IBAN Registry): country code -> IBAN length.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

# Visa 4; Mastercard 51-55 and 2221-2720; Amex 34/37; Diners 300-305/36/38/39; JCB 3528-3589;
# Discover 6011/644-649/65; UnionPay 62; Maestro 50/56-58/67/6304.
_CARD_PREFIX = re.compile(
    r"^(?:4|5[0-8]|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720|3[47]|30[0-5]|3[689]"
    r"|35(?:2[89]|[3-8]\d)|6011|64[4-9]|65|62|67|6304)"
)
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def luhn_ok(digits: str) -> bool:
    """True if the last digit of `digits` is its Luhn (mod-10) check digit."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_prefix_ok(digits: str) -> bool:
    """True if `digits` starts with the issuer prefix of a major card network."""
    return bool(_CARD_PREFIX.match(digits))


def iban_ok(iban: str) -> bool:
    """True for an IBAN (no spaces) with its country's length and a valid mod-97 check."""
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def dni_letter_ok(dni: str) -> bool:
    """True for a Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter) check letter."""
    body, letter = dni[:-1], dni[-1]
    if body[0] in "XYZ":
        body = str("XYZ".index(body[0])) + body[1:]
    return body.isdigit() and _DNI_LETTERS[int(body) % 23] == letter


def looks_random(token: str, min_distinct: int = 8) -> bool:
    """True if `token` has at least `min_distinct` distinct characters (placeholders do not)."""
    return len(set(token)) >= min_distinct
