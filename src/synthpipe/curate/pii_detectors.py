"""PII and secret detectors: a regex for candidates plus a validity check for each.

See :mod:`synthpipe.curate.pii` for the types, the placeholders and the API; the checksums
live in :mod:`synthpipe.curate.pii_checks`. :data:`DETECTORS` lists the detectors in priority
order (earlier wins when two matches overlap). Each detector's ``find(text)`` yields
``(start, end)`` spans.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from synthpipe.curate import pii_checks as checks

Span = tuple[int, int]
Finder = Callable[[str], Iterator[Span]]

# -- secrets ------------------------------------------------------------------------------
_PEM = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?"
    r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|(?=\n[ \t]*\n)|\Z)",
    re.DOTALL,
)
_AWS = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}(?![A-Za-z0-9])")
_GITHUB = re.compile(r"(?<![\w-])(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})(?![\w-])")
_OPENAI = re.compile(r"(?<![\w-])sk-(?:[a-z]+-)?[A-Za-z0-9_-]{20,}(?![\w-])")
_SLACK = re.compile(
    r"(?<![\w-])xox[abposr]-[A-Za-z0-9-]{10,}(?![\w-])"
    r"|https://hooks\.slack\.com/services/[A-Za-z0-9_/]+"
)
_STRIPE = re.compile(r"(?<![\w-])(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}(?![\w-])")
_GOOGLE = re.compile(r"(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])")
_ASSIGNMENT = re.compile(
    r"(?i)(?<![\w.-])[\w.-]*?(?:api[_-]?key|apikey|secret|token|passw(?:or)?d|pwd|access[_-]?key"
    r"|private[_-]?key|credentials?)[\w.-]*[\"']?[ \t]*(?::=|=>|=|:)[ \t]*[\"'`]?"
    r"(?P<value>[^\s\"'`,;(){}\[\]<>]+)"
)
_SAID_PASSWORD = re.compile(
    r"(?i)\b(?:password|passwd|passcode|passphrase|pin)\s+(?:is|was)\s*:?\s*[\"'`]?"
    r"(?P<value>[^\s\"'`,;(){}\[\]<>]+?)[.!?]?(?=[\s\"'`,;)]|$)"
)
_PLACEHOLDER_WORDS = (
    "your", "xxx", "***", "...", "example", "placeholder", "changeme", "redacted", "dummy",
    "${", "$(", "%(", "{{", "env", "none", "null", "true", "false", "secret", "token", "password",
    "[", "]",
)  # fmt: skip
_IDENTIFIER_PATH = re.compile(r"^[A-Za-z_][A-Za-z_.]*$")


def _tokens(pattern: re.Pattern[str], min_distinct: int = 8) -> Finder:
    def find(text: str) -> Iterator[Span]:
        for m in pattern.finditer(text):
            if checks.looks_random(m.group(), min_distinct):
                yield m.span()

    return find


def _find_pem(text: str) -> Iterator[Span]:
    for m in _PEM.finditer(text):
        yield m.span()


def _find_openai(text: str) -> Iterator[Span]:
    for m in _OPENAI.finditer(text):
        body = m.group()[3:]
        if checks.looks_random(body, 10) and any(c.isdigit() for c in body):
            yield m.span()


def _secret_value_ok(value: str) -> bool:
    lowered = value.lower()
    if len(value) < 6 or any(word in lowered for word in _PLACEHOLDER_WORDS):
        return False
    if _IDENTIFIER_PATH.match(value):  # code: a variable, attribute or module path
        return False
    classes = sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() and c not in "_-." for c in value),
        )
    )
    return classes >= 2 and len(set(value)) >= 5


_SECRET_WORD = re.compile(r"(?i)api.?key|secret|token|passw|pwd|access.?key|private.?key|credential|passcode|passphrase|\bpin\b")


def _find_assignment(text: str) -> Iterator[Span]:
    if not _SECRET_WORD.search(text):  # cheap pre-check: most texts name no secret
        return
    for pattern in (_ASSIGNMENT, _SAID_PASSWORD):
        for m in pattern.finditer(text):
            if _secret_value_ok(m.group("value")):
                yield m.span("value")


# -- credentials in URLs --------------------------------------------------------------------
_URL_CREDENTIALS = re.compile(
    r"(?i)\b[a-z][a-z0-9+.-]{1,15}://(?P<cred>[^\s:/@]+:(?P<pw>[^\s/@]+))@[\w.-]+"
)


def _find_url_credentials(text: str) -> Iterator[Span]:
    for m in _URL_CREDENTIALS.finditer(text):
        if m.group("pw")[0] not in "${<%*":
            yield m.span("cred")


# -- payment cards and bank accounts --------------------------------------------------------
_CARD = re.compile(r"(?<![\w.,-])\d{4}(?:[ -]?\d{1,6}){1,5}(?![\w-]|[.,]\d)")
_CARD_SHAPES = {(4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 6, 5), (4, 6, 4), (4, 4, 4, 1), (4, 4, 4, 2), (4, 4, 4, 3)}


def _card_ok(digits: str) -> bool:
    return (
        13 <= len(digits) <= 19
        and len(set(digits)) > 1
        and checks.card_prefix_ok(digits)
        and checks.luhn_ok(digits)
    )


def _find_cards(text: str) -> Iterator[Span]:
    for m in _CARD.finditer(text):
        groups = list(re.finditer(r"\d+", m.group()))
        separators = set(re.findall(r"[ -]", m.group()))
        if len(separators) > 1:
            continue
        # Try the longest run of groups first: the candidate may run into a following number.
        for i in range(len(groups)):
            hit = None
            for j in range(len(groups), i, -1):
                run = groups[i:j]
                shape = tuple(len(g.group()) for g in run)
                if len(run) > 1 and shape not in _CARD_SHAPES:
                    continue
                if _card_ok("".join(g.group() for g in run)):
                    hit = (m.start() + run[0].start(), m.start() + run[-1].end())
                    break
            if hit:
                yield hit
                break


_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")


def _find_iban(text: str) -> Iterator[Span]:
    for m in _IBAN.finditer(text):
        expected = checks.IBAN_LENGTHS.get(m.group()[:2])
        if expected is None:
            continue
        spaced = " " in m.group()
        end, count = m.start(), 0
        while end < m.end() and count < expected:  # cut after `expected` alphanumerics
            count += text[end] != " "
            end += 1
        if count < expected or (end < len(text) and text[end].isalnum()):
            continue
        candidate = text[m.start() : end]
        if spaced and not re.fullmatch(r"[A-Z0-9]{4}(?: [A-Z0-9]{4})* ?[A-Z0-9]{0,4}", candidate):
            continue
        if checks.iban_ok(candidate.replace(" ", "")):
            yield m.start(), end


# -- national identifiers -------------------------------------------------------------------
_SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w-]|\.\d)")
_SSN_NEVER_ISSUED = re.compile(r"^(?:078.05.1120|219.09.9999|457.55.5462|987.65.432\d)$")
_NINO = re.compile(
    r"(?<![\w])(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r"(?:\d{6}|(?: \d{2}){3} ?)[A-D](?![\w])"
)
_SIN = re.compile(r"(?<![\w-])[1-79]\d{2}([ -])\d{3}\1\d{3}(?![\w-]|\.\d)")
_DNI = re.compile(r"(?<![\w-])(?:\d{8}|[XYZ]\d{7})-?[A-Z](?![\w-])")


_OPERATORS = frozenset("=+*/×÷<>^")


def in_arithmetic(text: str, start: int, end: int) -> bool:
    """True if the nearest non-space character on either side of the span is an operator.

    ``400-120-200=80`` (GSM8K-style working) is arithmetic, not an identifier or a phone.
    """
    before = text[:start].rstrip()[-1:]
    after = text[end:].lstrip()[:1]
    return bool(before and before in _OPERATORS) or bool(after and after in _OPERATORS)


def _find_ssn(text: str) -> Iterator[Span]:
    for m in _SSN.finditer(text):
        if not _SSN_NEVER_ISSUED.match(m.group()) and not in_arithmetic(text, *m.span()):
            yield m.span()


def _find_sin(text: str) -> Iterator[Span]:
    for m in _SIN.finditer(text):
        if checks.luhn_ok(re.sub(r"\D", "", m.group())) and not in_arithmetic(text, *m.span()):
            yield m.span()


def _find_dni(text: str) -> Iterator[Span]:
    for m in _DNI.finditer(text):
        if checks.dni_letter_ok(m.group().replace("-", "")):
            yield m.span()


def _find_regex(pattern: re.Pattern[str]) -> Finder:
    def find(text: str) -> Iterator[Span]:
        for m in pattern.finditer(text):
            yield m.span()

    return find


# -- contact details ------------------------------------------------------------------------
_EMAIL = re.compile(
    r"(?<![\w.+%-])[A-Za-z0-9][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+"
    r"(?P<tld>[A-Za-z]{2,24})(?![\w@-])"
)
_FILE_TLDS = frozenset(
    {"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "pdf", "js", "ts", "py", "css", "html", "txt"}
)


def _find_email(text: str) -> Iterator[Span]:
    for m in _EMAIL.finditer(text):
        if m.group("tld").lower() in _FILE_TLDS:
            continue
        if re.match(r":[^\s]", text[m.end() : m.end() + 2]):  # git@github.com:org/repo
            continue
        yield m.span()


_PHONE_US = re.compile(
    r"(?<![\w+.-])(?:\+?1[ .-]?)?(?:\([2-9]\d{2}\)[ .-]?|[2-9]\d{2}(?P<sep>[ .-]))"
    r"[2-9]\d{2}(?(sep)(?P=sep)|[ .-])\d{4}(?![\w-]|[.,]\d)"
)
_PHONE_INTL = re.compile(r"(?<![\w+])\+[1-9]\d{0,2}(?:[ .-]?(?:\(\d{1,4}\)|\d{1,8})){1,6}(?![\w-]|[.,]\d)")


def _find_intl_phone(text: str) -> Iterator[Span]:
    for m in _PHONE_INTL.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        formatted = bool(re.search(r"[ .()-]", m.group()))
        plausible = 8 <= len(digits) <= 15 and (formatted or len(digits) >= 10)
        if plausible and not in_arithmetic(text, *m.span()):
            yield m.span()


def _find_us_phone(text: str) -> Iterator[Span]:
    for m in _PHONE_US.finditer(text):
        if not in_arithmetic(text, *m.span()):
            yield m.span()


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
_VERSION_BEFORE = re.compile(
    r"(?i)\b(?:version|ver|v|release|rel|build|firmware|revision|rev|update|patch)\.?\s*$"
)
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}|(?=::))(?::[0-9A-Fa-f]{0,4}){2,7}"
    r"(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])"
)


def _not_personal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, unspecified, multicast and broadcast addresses name no one."""
    return (
        address.is_loopback
        or address.is_unspecified
        or address.is_multicast
        or address == ipaddress.IPv4Address("255.255.255.255")
    )


def _find_ipv4(text: str) -> Iterator[Span]:
    for m in _IPV4.finditer(text):
        if _VERSION_BEFORE.search(text[max(0, m.start() - 20) : m.start()]):
            continue
        if not _not_personal(ipaddress.IPv4Address(m.group())):
            yield m.span()


def _find_ipv6(text: str) -> Iterator[Span]:
    for m in _IPV6.finditer(text):
        candidate = m.group()
        try:
            address = ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        if _not_personal(address):
            continue
        groups = [g for g in re.split(r":+", candidate) if g]
        hexy = any(c in "abcdefABCDEF" for c in candidate)
        if len(groups) >= 3 or (hexy and len(groups) >= 2):  # not a[1::3] slices
            yield m.span()


# -- the detector table ---------------------------------------------------------------------
@dataclass(frozen=True)
class Detector:
    name: str
    type: str
    find: Finder


DETECTORS: tuple[Detector, ...] = (  # priority order: earlier wins on overlap
    Detector("private_key", "secret", _find_pem),
    Detector("aws_access_key", "secret", _tokens(_AWS)),
    Detector("github_token", "secret", _tokens(_GITHUB)),
    Detector("openai_key", "secret", _find_openai),
    Detector("slack_token", "secret", _tokens(_SLACK)),
    Detector("stripe_key", "secret", _tokens(_STRIPE)),
    Detector("google_api_key", "secret", _tokens(_GOOGLE)),
    Detector("url_credentials", "url_credentials", _find_url_credentials),
    Detector("generic_secret", "secret", _find_assignment),
    Detector("credit_card", "credit_card", _find_cards),
    Detector("iban", "iban", _find_iban),
    Detector("us_ssn", "national_id", _find_ssn),
    Detector("uk_nino", "national_id", _find_regex(_NINO)),
    Detector("ca_sin", "national_id", _find_sin),
    Detector("es_dni", "national_id", _find_dni),
    Detector("email", "email", _find_email),
    Detector("phone_intl", "phone", _find_intl_phone),
    Detector("phone_us", "phone", _find_us_phone),
    Detector("ipv4", "ip_address", _find_ipv4),
    Detector("ipv6", "ip_address", _find_ipv6),
)
DETECTOR_NAMES = tuple(d.name for d in DETECTORS)
