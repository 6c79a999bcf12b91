"""Hatch build hook: compile the message catalogues (.po -> .mo) into the package.

Runs for wheels and editable installs alike, so the catalogues are never
missing at run time; the .mo files are build products and not in git.
"""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CatalogueHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version, build_data):
        for po_path in Path(self.root, "poll", "translations").glob("*/LC_MESSAGES/*.po"):
            with po_path.open("rb") as source:
                catalog = read_po(source)
            with po_path.with_suffix(".mo").open("wb") as target:
                write_mo(target, catalog, use_fuzzy=False)
