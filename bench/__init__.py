"""Benchmarks (not tests). Importing the package sets Django up, so each scenario module can
import the project's code at the top."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailcrm.settings")
django.setup()
