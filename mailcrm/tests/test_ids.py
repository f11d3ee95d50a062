"""Primary keys: version-7 UUIDs that increase strictly within a process, even many in one
millisecond, so ordering by id is creation order."""

import uuid

from mailcrm.ids import uuid7


def test_ids_are_version_7_and_strictly_increasing():
    ids = [uuid7() for _ in range(20_000)]  # far more than one millisecond's worth of counter

    assert all(value.version == 7 and value.variant == uuid.RFC_4122 for value in ids)
    assert all(earlier < later for earlier, later in zip(ids, ids[1:], strict=False))
    assert len(set(ids)) == len(ids)
