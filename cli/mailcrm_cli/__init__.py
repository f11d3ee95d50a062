"""mailcrm-cli: a command-line client for the mailcrm REST API."""

__version__ = "0.1.0"
