"""Phone numbers: any common Iraqi or international spelling to E.164."""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

DEFAULT_REGION = "IQ"
_SMS_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
# Eastern Arabic and Persian digits, as people type them on Arabic keyboards.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def _iraqi_mobile() -> re.Pattern[str]:
    # An Iraqi mobile number written as E.164 or nationally with its trunk 0, the way nearly every audience file
    # writes them: such a number is valid and a mobile exactly when its national digits match the library's own
    # pattern for Iraqi mobiles, so its E.164 form needs no parse. Anything else takes the library's full parse.
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("IQ")
    mobile = metadata.mobile.national_number_pattern
    return re.compile(rf"(?:\+{metadata.country_code}|{metadata.national_prefix})(?P<national>{mobile})")


_IRAQI_MOBILE = _iraqi_mobile()


def to_e164(raw: str, region: str = DEFAULT_REGION) -> str:
    """The E.164 form of a mobile number ("0770 123 4567" -> "+9647701234567").

    Raises ValueError with a reason a person can act on.
    """
    if region == DEFAULT_REGION and (found := _IRAQI_MOBILE.fullmatch(raw.strip())):
        return "+964" + found["national"]
    return _parsed(raw, region)


def _parsed(raw: str, region: str) -> str:
    # `to_e164` by the library's full parse.
    text = raw.strip().translate(_DIGITS)
    if not text:
        raise ValueError("no phone number")
    if any(ch.isalpha() for ch in text):
        # phonenumbers would read keypad letters (ABC = 222); in an audience file they are mistakes.
        raise ValueError("not a phone number (it has letters)")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise ValueError(f"not a phone number ({exc.args[0] if exc.args else 'unreadable'})") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    if phonenumbers.number_type(number) not in _SMS_TYPES:
        raise ValueError("not a mobile number (SMS cannot reach it)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def from_gateway(raw: str) -> str:
    """E.164 from a gateway's sender, which often drops the "+" ("9647701234567")."""
    text = raw.strip()
    if text.isdigit() and not text.startswith("0") and len(text) > 10:
        try:
            return to_e164("+" + text)
        except ValueError:
            pass
    return to_e164(text)


def mask(e164: str) -> str:
    """An Iraqi mobile number with only its network digit and last three shown: "+964 7•• ••• •567".

    Other numbers keep their last three digits: "•••••••••567".
    """
    if e164.startswith("+9647") and len(e164) == 14:
        return f"+964 7•• ••• •{e164[-3:]}"
    return "•" * max(len(e164) - 3, 0) + e164[-3:]
