"""QC report: self-contained HTML rendered by headless Chromium, PDF rasterised by poppler."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from recast.qc.report import write_report
from recast.qc.sample_job import SampleJobSpec, build_sample_job, decode_frames
from recast.qc.scoring import QCOptions, score_job

REPO = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str | None:
    """The system tool, installed by the project's own set-up (scripts/sysdeps.sh) if missing."""
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if found is None:
        subprocess.run(["bash", str(REPO / "scripts" / "sysdeps.sh")], check=False, timeout=900)
        found = shutil.which(name)
    return found


@pytest.fixture(scope="module")
def scored(test_media: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("qc_report") / "job"
    build_sample_job(decode_frames(test_media / "Megamind.avi", 130, 12), SampleJobSpec(out, glitches={1006: "colour"}))
    return score_job(out, QCOptions(identity=False))


def test_html_report_is_self_contained_and_renders_in_chromium(scored: dict, tmp_path: Path) -> None:
    (page,) = write_report(scored, tmp_path / "rep")
    text = page.read_text()
    srcs = re.findall(r'src="([^"]*)"', text)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)  # nothing outside the file
    assert "SYNTHETIC" in text and "1006" in text and "flicker" in text
    assert "<link" not in text and "http" not in text.replace("http-equiv", "")

    chromium = _tool("chromium")
    if chromium is None:
        print("SKIP REASON: chromium could not be installed (scripts/sysdeps.sh needs root + apt-get)")
        pytest.skip("chromium could not be installed (scripts/sysdeps.sh needs root + apt-get)")
    shot = tmp_path / "shot.png"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'chromium'}", "--window-size=1200,1800", f"--screenshot={shot}", page.as_uri()]
    subprocess.run(cmd, check=False, timeout=120, capture_output=True)
    img = cv2.imread(str(shot))
    assert img is not None, "chromium wrote no screenshot"
    assert img.shape[:2] == (1800, 1200)
    # not blank: many distinct colours, and the red SYNTHETIC badge / fail marks are drawn
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 200
    red = (img[..., 2] > 180) & (img[..., 1] < 80) & (img[..., 0] < 80)
    assert red.sum() > 200


def test_pdf_report_rasterises(scored: dict, tmp_path: Path) -> None:
    paths = write_report(scored, tmp_path / "rep", pdf=True)
    pdf = paths[1]
    assert pdf.name == "report.pdf" and pdf.read_bytes()[:5] == b"%PDF-"
    pdftoppm = _tool("pdftoppm")
    if pdftoppm is None:
        print("SKIP REASON: poppler-utils could not be installed")
        pytest.skip("poppler-utils could not be installed")
    subprocess.run([pdftoppm, "-r", "30", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) >= 3  # summary, plots, failing-frame thumbnails
    for p in pages:
        im = cv2.imread(str(p))
        assert im is not None and im.std() > 5  # something is drawn on every page
