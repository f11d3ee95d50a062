"""CSV import of contacts.

``import_start`` checks the file and the column mapping, stores the bytes in the database
(any worker can read them) and queues ``import_run``. The run reads the file once to count
rows, then again in chunks: every row is validated in Python, and each chunk is written with a
few set-based statements through a temporary table (COPY on PostgreSQL), never a save() per
row. A bad row is reported with its number and reason; the good rows are kept.

Rows are numbered as a spreadsheet shows them: the header is row 1.

    reading.py  encoding, delimiter, header, preview and suggested mapping
    rows.py     validation of one row against the mapping
    writing.py  set-based writes of a chunk, per database
    jobs.py     starting, claiming and running an import
"""

from contacts.imports.jobs import MAX_IMPORT_BYTES, ImportTooLarge, import_run, import_start
from contacts.imports.reading import (
    CsvPreview,
    ImportFileError,
    detect_encoding,
    read_preview,
    suggest_mapping,
)

__all__ = [
    "MAX_IMPORT_BYTES",
    "CsvPreview",
    "ImportFileError",
    "ImportTooLarge",
    "detect_encoding",
    "import_run",
    "import_start",
    "read_preview",
    "suggest_mapping",
]
