"""A poll's definition: from a TOML file or an XLSForm to a questionnaire, found and opened."""
