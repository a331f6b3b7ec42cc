"""Bad input: damaged, fake, empty, missing and absurd files give one clean line, never a crash.

Every damaged file here is generated: a valid EXR is truncated at several offsets,
bit-flipped, overwritten with random bytes, or has its header windows patched.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from recast.pipeline.errors import PlateError
from recast.pipeline.plateio import read_header, read_plate, same_pixels
from tests._fixtures_plates import make_exr, recast


@pytest.fixture()
def good_exr(tmp_path: Path) -> Path:
    p = tmp_path / "good.exr"
    make_exr(p, width=48, height=40, compression="zip", data_window=(2, 3, 44, 36))
    return p


def _one_clean_line(proc, path: Path) -> str:
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr
    assert err.count("\n") == 0, proc.stderr
    assert err.startswith("recast: error:") and str(path) in err
    return err


def _patch_box(data: bytes, attr: bytes, box: tuple[int, int, int, int]) -> bytes:
    key = attr + b"\x00box2i\x00" + struct.pack("<i", 16)
    at = data.index(key) + len(key)
    return data[:at] + struct.pack("<4i", *box) + data[at + 16 :]


def _damaged_copies(data: bytes, rng: np.random.Generator, count: int, kinds: tuple[str, ...]):
    """``count`` damaged copies of ``data``, cycling through ``kinds``: ``truncate`` (cut at a
    random offset), ``flip`` (1-5 random bit flips), ``patch`` (16 random bytes somewhere)."""
    for i in range(count):
        kind = kinds[i % len(kinds)]
        b = bytearray(data)
        if kind == "truncate":
            b = b[: int(rng.integers(1, len(b)))]
        elif kind == "flip":
            for _ in range(int(rng.integers(1, 6))):
                j = int(rng.integers(0, len(b)))
                b[j] ^= 1 << int(rng.integers(0, 8))
        else:
            j = int(rng.integers(0, len(b)))
            b[j : j + 16] = rng.bytes(16)
        yield bytes(b)


def _fuzz_reads(good: Path, tmp_path: Path, seed: int, count: int, kinds: tuple[str, ...]) -> int:
    """Read damaged copies of ``good``: each either decodes (damage landed in pixel data) to a
    well-formed plate of the original's shape, or raises one PlateError line naming the file.
    Returns how many raised."""
    shape = read_plate(good).pixels.shape
    errors = 0
    for b in _damaged_copies(good.read_bytes(), np.random.default_rng(seed), count, kinds):
        bad = tmp_path / "fuzz.exr"
        bad.write_bytes(b)
        try:
            plate = read_plate(bad)
        except PlateError as exc:
            assert str(bad) in str(exc) and "\n" not in str(exc)
            errors += 1
        else:
            assert plate.pixels.dtype == np.float32 and plate.pixels.shape == shape
    return errors


def test_truncations_all_fail_cleanly(good_exr: Path, tmp_path: Path) -> None:
    data = good_exr.read_bytes()
    offsets = sorted({1, 4, 8, 20, 100, len(data) // 4, len(data) // 2, len(data) - 40, len(data) - 1})
    for off in offsets:
        bad = tmp_path / f"trunc_{off}.exr"
        bad.write_bytes(data[:off])
        with pytest.raises(PlateError) as err:
            read_plate(bad)
        assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_bit_flips_and_random_patches_never_escape(good_exr: Path, tmp_path: Path) -> None:
    """Fuzzed copies either read (damage landed in pixel data) or raise PlateError; nothing else."""
    errors = _fuzz_reads(good_exr, tmp_path, 7, 120, ("flip", "patch"))
    assert errors > 30  # zip-compressed chunks: most damage is detected


def test_header_damage_is_detected_and_named(good_exr: Path, tmp_path: Path) -> None:
    data = bytearray(good_exr.read_bytes())
    data[0] ^= 0xFF  # magic number
    bad = tmp_path / "magic.exr"
    bad.write_bytes(bytes(data))
    with pytest.raises(PlateError, match=r"magic\.exr: cannot open image"):
        read_header(bad)


def test_absurd_dimensions_refused_before_decoding(good_exr: Path, tmp_path: Path) -> None:
    data = good_exr.read_bytes()
    huge = _patch_box(data, b"dataWindow", (0, 0, 199_999, 199_999))
    huge = _patch_box(huge, b"displayWindow", (0, 0, 199_999, 199_999))
    bad = tmp_path / "huge.exr"
    bad.write_bytes(huge)
    with pytest.raises(PlateError, match=r"huge\.exr: (absurd dimensions|header exceeds the decoding limits)"):
        read_plate(bad)
    proc = recast("plate", "check", str(bad))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and str(bad) in proc.stderr


def test_unchanged_copy_still_reads_exactly(good_exr: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.exr"
    copy.write_bytes(good_exr.read_bytes())
    assert same_pixels(read_plate(copy).pixels, read_plate(good_exr).pixels)


@pytest.mark.parametrize("kind", ["missing", "empty", "random", "truncated", "text", "directory", "absurd", "movie"])
def test_cli_info_one_line_per_bad_file(kind: str, good_exr: Path, tmp_path: Path) -> None:
    bad = tmp_path / f"{kind}.exr"
    rng = np.random.default_rng(1)
    if kind == "empty":
        bad.write_bytes(b"")
    elif kind == "random":
        bad.write_bytes(rng.bytes(4096))
    elif kind == "truncated":
        bad.write_bytes(good_exr.read_bytes()[:333])
    elif kind == "text":
        bad = tmp_path / "notes.txt"
        bad.write_text("this is not an image\n" * 20)
    elif kind == "directory":
        bad = tmp_path / "frames_dir.exr"
        bad.mkdir()
    elif kind == "movie":
        from tests._fixtures_plates import make_movie

        bad = tmp_path / "edit.mov"
        make_movie(bad, frames=2)
    elif kind == "absurd":
        bad.write_bytes(_patch_box(good_exr.read_bytes(), b"dataWindow", (-5, -5, 150_000, 150_000)))
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = recast("plate", "info", str(bad))
    err = _one_clean_line(proc, bad)
    if kind == "missing":
        assert "not found" in err
    if kind == "empty":
        assert "empty file" in err
    if kind == "text":
        assert "unsupported or unrecognised image format" in err
    if kind == "movie":
        assert "recast plate import" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_cli_check_lists_every_damaged_frame(good_exr: Path, tmp_path: Path) -> None:
    d = tmp_path / "seq"
    d.mkdir()
    data = good_exr.read_bytes()
    for f in range(1001, 1007):
        (d / f"plate.{f}.exr").write_bytes(data)
    (d / "plate.1002.exr").write_bytes(data[: len(data) // 2])
    (d / "plate.1004.exr").write_bytes(np.random.default_rng(4).bytes(len(data)))
    (d / "plate.1005.exr").write_bytes(b"")
    proc = recast("plate", "check", str(d / "plate.####.exr"), "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    import json

    report = json.loads(proc.stdout)
    assert [u["frame"] for u in report["unreadable"]] == [1002, 1004, 1005]
    assert all(u["path"] in u["error"] for u in report["unreadable"])
    assert report["clean"] is False
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("recast: ") for line in lines)
    # --debug may show tracebacks, the default never does
    dbg = recast("plate", "info", str(d / "plate.1005.exr"), "--debug")
    assert dbg.returncode == 2 and "Traceback" in dbg.stderr


def test_decoder_crash_costs_one_frame_not_the_check(good_exr: Path) -> None:
    """Frames decode in a child process: when it dies, that frame is reported and the next one still reads."""
    import os
    import signal

    from recast.pipeline.cli.plate import IsolatedProber

    with IsolatedProber(part=0, timeout_s=60) as prober:
        first = prober.probe(good_exr)
        assert first["ok"] and (first["width"], first["height"]) == (48, 40) and first["nan"] == 1
        pid = prober.pid
        assert pid is not None and pid != os.getpid()
        os.kill(pid, signal.SIGKILL)  # what a segfaulting decoder looks like from outside
        crashed = prober.probe(good_exr)
        assert crashed["ok"] is False and "decoder crashed" in crashed["error"] and str(good_exr) in crashed["error"]
        again = prober.probe(good_exr)
        assert again["ok"] and prober.pid not in (None, pid)


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="needs Linux /proc")
def test_decoder_child_has_a_bounded_address_space(good_exr: Path) -> None:
    import resource

    from recast.pipeline.cli.plate import IsolatedProber, decoder_address_space
    from recast.pipeline.plateio import DEFAULT_LIMITS

    cap = decoder_address_space()
    assert cap >= 3 * DEFAULT_LIMITS.max_bytes  # room for the largest frame the header limits admit
    inherited = resource.getrlimit(resource.RLIMIT_AS)[0]  # a stricter limit from the shell is kept
    expected = cap if inherited == resource.RLIM_INFINITY else min(cap, inherited)
    with IsolatedProber(part=0, timeout_s=60) as prober:
        assert prober.probe(good_exr)["ok"]
        assert prober.pid is not None
        lines = Path(f"/proc/{prober.pid}/limits").read_text().splitlines()
    soft = next(line for line in lines if line.startswith("Max address space")).split()[3]
    assert soft == str(expected)


def test_cli_check_bounds_decode_time(tmp_path: Path) -> None:
    big = tmp_path / "big.exr"
    make_exr(big, width=1500, height=1000, pixel_type="float", compression="piz", nonfinite=False)
    proc = recast("plate", "check", str(big), "--timeout", "0.0001", "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    import json

    report = json.loads(proc.stdout)
    assert "decode did not finish within 0.0001 s" in report["unreadable"][0]["error"]
    ok = recast("plate", "check", str(big))
    assert ok.returncode == 0, ok.stderr


def test_fifo_named_exr_does_not_block(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.exr"
    os.mkfifo(fifo)
    proc = recast("plate", "info", str(fifo), timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip() == f"recast: error: {fifo}: not a regular file"


@pytest.mark.parametrize("kind", ["none", "rle", "zips", "piz", "pxr24", "b44", "dwaa", "tiled_zip", "tiled_piz", "multipart"])
def test_fuzzed_exr_of_every_layout_reads_or_fails_cleanly(kind: str, tmp_path: Path) -> None:
    """Truncations, bit flips and random patches of EXRs in every compression, tiled and
    multipart: each copy either decodes to a plate of the original's shape or raises one
    PlateError line naming the file."""
    from tests._fixtures_plates import make_multipart_exr

    good = tmp_path / f"good_{kind}.exr"
    if kind == "multipart":
        make_multipart_exr(good, [("beauty", ("R", "G", "B", "A")), ("depth", ("Z",))], 64, 48)
    elif kind.startswith("tiled_"):
        make_exr(good, 64, 48, compression=kind.split("_")[1], tile=16)
    else:
        make_exr(good, 64, 48, compression=kind)
    errors = _fuzz_reads(good, tmp_path, 11, 60, ("truncate", "flip", "patch"))
    assert errors >= 20  # every truncation (a third of the copies) at least is detected
