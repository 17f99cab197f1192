"""The catalogue: every model we know by name, what each one's graph expects and returns (its
contracts), where its weights come from, and the models a user imported. A new catalogue entry
goes in ``entries.py``; a new family's contracts in ``families.py``."""
