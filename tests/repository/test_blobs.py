"""Content-addressed blob store (repository.blobs): atomic filing, de-duplication, safe removal."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from repository.blobs import BlobStore, read_chunks


def sha(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def spooled(blobs: BlobStore, data: bytes) -> Path:
    spool = blobs.spool()
    spool.write(data)
    spool.close()
    return spool.path


def test_place_file_files_under_the_hash_and_drops_the_spool(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    path = spooled(blobs, b"content")
    assert path.parent == blobs.tmp_dir
    assert blobs.place_file(path, sha(b"content")) is True
    target = blobs.path(sha(b"content"))
    assert target == tmp_path / "blobs" / sha(b"content")[:2] / sha(b"content")
    assert target.read_bytes() == b"content" and not path.exists()
    with blobs.open(sha(b"content")) as f:
        assert f.read() == b"content"
    assert blobs.size(sha(b"content")) == 7


def test_same_content_twice_is_stored_once(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    assert blobs.place_file(spooled(blobs, b"same"), sha(b"same")) is True
    second = spooled(blobs, b"same")
    assert blobs.place_file(second, sha(b"same")) is False
    assert not second.exists()
    assert blobs.place_bytes(b"same", sha(b"same")) is False
    assert [h for h, _ in blobs.hashes()] == [sha(b"same")]
    assert list(blobs.tmp_dir.iterdir()) == []


@pytest.mark.parametrize("nameless", [True, False], ids=["O_TMPFILE", "named spool file"])
def test_place_bytes(tmp_path: Path, nameless: bool) -> None:
    blobs = BlobStore(tmp_path)
    assert blobs._nameless  # Linux with /proc: the nameless way is found at start
    blobs._nameless = nameless  # as on a file system without O_TMPFILE
    assert blobs.place_bytes(b"small", sha(b"small")) is True
    assert blobs.path(sha(b"small")).read_bytes() == b"small"
    assert blobs.path(sha(b"small")).stat().st_mode & 0o777 == 0o600  # as mkstemp makes it: health data
    assert blobs.place_bytes(b"small", sha(b"small")) is False
    assert blobs.exists(sha(b"small")) and list(blobs.tmp_dir.iterdir()) == []


def test_place_bytes_losing_a_race_to_the_same_content(tmp_path: Path) -> None:
    """The hash's name appears between the check and the link (a concurrent submission of the same bytes):
    the link fails, nothing is overwritten, nothing is left in tmp/. (A dangling symlink stands for the name:
    `exists()` does not see it, the link does.)"""
    blobs = BlobStore(tmp_path)
    target = blobs.path(sha(b"raced"))
    os.symlink("elsewhere", target)
    assert blobs.place_bytes(b"raced", sha(b"raced")) is False
    assert os.readlink(target) == "elsewhere" and list(blobs.tmp_dir.iterdir()) == []


def test_path_refuses_what_is_not_a_sha1(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    for bad in ("../../etc/passwd", "abc", "g" * 40):
        with pytest.raises(ValueError):
            blobs.path(bad)
    assert blobs.path("A" * 40).name == "a" * 40


def test_remove_if_unreferenced(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    blobs.place_bytes(b"x", sha(b"x"))
    assert blobs.remove_if_unreferenced(sha(b"x"), lambda h: True) is False
    assert blobs.exists(sha(b"x"))
    assert blobs.remove_if_unreferenced(sha(b"x"), lambda h: False) is True
    assert not blobs.exists(sha(b"x")) and list(blobs.tmp_dir.iterdir()) == []
    assert blobs.remove_if_unreferenced(sha(b"x"), lambda h: False) is False


def test_remove_puts_back_a_blob_referenced_meanwhile(tmp_path: Path) -> None:
    """A submission reserved the hash between the first look and the move aside: the blob comes back."""
    blobs = BlobStore(tmp_path)
    blobs.place_bytes(b"raced", sha(b"raced"))
    answers = iter([False, True])  # not referenced at first, referenced once moved aside
    assert blobs.remove_if_unreferenced(sha(b"raced"), lambda h: next(answers)) is False
    assert blobs.path(sha(b"raced")).read_bytes() == b"raced"
    assert list(blobs.tmp_dir.iterdir()) == []


def test_remove_when_the_racing_submission_filed_its_own_copy(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    blobs.place_bytes(b"raced", sha(b"raced"))

    def referenced_and_refiled(h: str) -> bool:
        if not blobs.exists(h):  # the blob is aside: the other submission files its copy now
            blobs.place_bytes(b"raced", h)
            return True
        return False

    assert blobs.remove_if_unreferenced(sha(b"raced"), referenced_and_refiled) is False
    assert blobs.path(sha(b"raced")).read_bytes() == b"raced"
    assert list(blobs.tmp_dir.iterdir()) == []


def test_stale_spool_files(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    old = spooled(blobs, b"old")
    spooled(blobs, b"new")
    past = time.time() - 7200
    os.utime(old, (past, past))
    assert blobs.stale_spool_files(3600) == [old]


def test_read_chunks_closes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a" * 10)
    handle = path.open("rb")
    chunks = read_chunks(handle, 4)
    assert next(chunks) == b"aaaa"
    chunks.close()
    assert handle.closed
    assert list(read_chunks(path.open("rb"), 4)) == [b"aaaa", b"aaaa", b"aa"]
