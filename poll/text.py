"""Text that people type and operators read: invisible format characters made visible."""

import unicodedata


def reveal_controls(text: str) -> str:
    """`text` with every format character (Unicode category Cf: bidi controls, zero-width marks) as <U+XXXX>."""
    if text.isascii():
        return text
    return "".join(f"<U+{ord(ch):04X}>" if unicodedata.category(ch) == "Cf" else ch for ch in text)
