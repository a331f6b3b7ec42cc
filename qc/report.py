"""QC reports: one self-contained HTML page (images embedded) and optionally a PDF.

Summary (frames, pass/warn/fail, flagged frames, actor, backend, model, licences,
consent, the job's published versions ``vNNN`` and the software versions), one
plot per metric over frames with its thresholds,
plate | comp | difference thumbnails of flagged frames, the reviewers' flags
(note, author and their freehand strokes drawn on the frame, from
``<out>/review/flags.json``) and a contact sheet, all through the OCIO display
transform.
"""

from __future__ import annotations

import base64
import html
import os
import platform
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from recast.pipeline.atomic import atomic_path, atomic_write_bytes
from recast.pipeline.color import PlateColour
from recast.pipeline.errors import QCError
from recast.qc.rules import Rules
from recast.qc.thumbs import Thumbnailer, label, png_bytes

STATUS_COLOUR = {"pass": "#3caa5a", "warn": "#e6aa28", "fail": "#dc3232", "na": "#888888"}


@dataclass(frozen=True)
class ReportOptions:
    thumb_width: int = 320
    max_flagged: int = 24  # flagged frames shown as thumbnails
    contact_frames: int = 24  # frames in the contact sheet
    thresholds: Path | None = None


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("recast", "numpy", "OpenImageIO", "opencolorio", "opencv-python-headless", "dlib-bin", "lpips", "torch", "av"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def published(doc: dict[str, Any]) -> list[str]:
    """The job's published versions (``<out>/publish/vNNN`` with a manifest), oldest first."""
    from recast.pipeline.jobs.publish import published_versions
    from recast.pipeline.jobs.takes import JobLayout

    if not doc.get("out"):
        return []
    return [str(m.get("version")) for m in published_versions(JobLayout(out=Path(str(doc["out"])), plate_name="plate"))]


def licences(doc: dict[str, Any]) -> list[str]:
    """Licences of the models behind this job (actor manifest + face analyser)."""
    found: list[str] = []
    actor = (doc.get("job_info") or {}).get("actor")
    if actor:
        try:
            from recast.models.actor import load_actor

            man = load_actor(actor, verify=False).manifest
        except Exception:  # noqa: BLE001 - the report still renders without the actor folder
            man = {}
        stack: list[Any] = [man]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                for k, v in node.items():
                    if k in ("licences", "licence", "license") and isinstance(v, list):
                        found += [f"{e.get('model', e.get('file', '?'))}: {e.get('licence', e)}" if isinstance(e, dict) else str(e) for e in v]
                    elif k in ("licence", "license") and isinstance(v, str):
                        found.append(v)
                    else:
                        stack.append(v)
            elif isinstance(node, list):
                stack.extend(node)
    return sorted(set(found))


def metric_series(doc: dict[str, Any], name: str) -> tuple[list[int], list[float | None], list[str]]:
    frames = [f["frame"] for f in doc["frames"]]
    vals = [f["metrics"].get(name, {}).get("value") for f in doc["frames"]]
    st = [f["metrics"].get(name, {}).get("status", "na") for f in doc["frames"]]
    return frames, vals, st


def plot_metric(doc: dict[str, Any], name: str, rules: Rules) -> Figure | None:
    frames, vals, st = metric_series(doc, name)
    if all(v is None for v in vals):
        return None
    fig = Figure(figsize=(8, 2.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    y = np.array([np.nan if v is None else v for v in vals], np.float64)
    ax.plot(frames, y, "-", color="#4a78c2", lw=1.2)
    for s in ("warn", "fail"):
        idx = [i for i, x in enumerate(st) if x == s]
        if idx:
            ax.scatter([frames[i] for i in idx], y[idx], color=STATUS_COLOUR[s], zorder=3, s=22, label=s)
    rule = rules.metrics.get(name)
    if rule:
        for lvl, thr in (("warn", rule.warn), ("fail", rule.fail)):
            if thr is not None:
                ax.axhline(thr, color=STATUS_COLOUR[lvl], ls="--", lw=0.9, label=f"{lvl} {thr:g}")
    info = doc["metrics"].get(name, {})
    ax.set_title(f"{name} — {info.get('label', '')} ({'higher' if info.get('direction') == 'higher' else 'lower'} is better)", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.set_xlabel("frame", fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # frames are whole numbers
    plain = ScalarFormatter(useOffset=False)
    plain.set_scientific(False)
    ax.xaxis.set_major_formatter(plain)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def _summary(doc: dict[str, Any]) -> list[tuple[str, str]]:
    ji = doc.get("job_info") or {}
    s = doc["summary"]
    return [
        ("job", str(doc.get("job") or "—")),
        ("shot", str(doc.get("shot") or "—")),
        ("output", str(doc.get("out"))),
        ("take", str(doc.get("take"))),
        ("frames", f"{s['frames']} ({doc['frames'][0]['frame']}–{doc['frames'][-1]['frame']})" if doc["frames"] else "0"),
        ("pass / warn / fail", f"{s['pass']} / {s['warn']} / {s['fail']}"),
        ("flagged frames", ", ".join(map(str, s["flagged"])) or "none"),
        ("actor", str(ji.get("actor") or "—")),
        ("backend", str(ji.get("backend") or "—")),
        ("model sha256", str(ji.get("model_sha256") or "— (embedded)")),
        ("consent id", str(ji.get("consent_id") or "—")),
        ("LPIPS trunk", _lpips_row(doc)),
        ("versions", ", ".join(published(doc)) or "none published"),
        ("thresholds", str(doc.get("thresholds"))),
        ("scored", str(doc.get("created"))),
    ]


def _pick_contact(frames: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    usable = [f for f in frames if f.get("comp") and Path(f["comp"]).is_file()]
    if len(usable) <= n:
        return usable
    idx = np.linspace(0, len(usable) - 1, n).round().astype(int)
    return [usable[i] for i in sorted(set(idx.tolist()))]


@dataclass
class ReportImages:
    plots: list[tuple[str, Figure]]
    flagged: list[tuple[dict[str, Any], np.ndarray]]
    contact: list[tuple[dict[str, Any], np.ndarray]]
    reviewer: list[tuple[dict[str, Any], np.ndarray | None]] = field(default_factory=list)
    _rgb: dict[str, np.ndarray] = field(default_factory=dict)

    def plot_rgb(self, name: str, fig: Figure) -> np.ndarray:
        """The plot rendered once (Agg), for the HTML's PNG and the PDF's page alike."""
        if name not in self._rgb:
            self._rgb[name] = _rgb_of(fig)
        return self._rgb[name]


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    try:
        return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)
    except (ValueError, IndexError):
        return 255, 59, 48


def draw_strokes(rgb_u8: np.ndarray, strokes: list[dict[str, Any]], display_window: tuple[int, int, int, int]) -> np.ndarray:
    """Strokes (plate image pixels) drawn on a thumbnail of the display window ``(x0, y0, x1, y1)``."""
    import cv2

    img = np.ascontiguousarray(rgb_u8.copy())
    x0, y0, x1, y1 = display_window
    sx, sy = img.shape[1] / max(x1 - x0, 1), img.shape[0] / max(y1 - y0, 1)
    for st in strokes:
        pts = np.array([[(p[0] - x0) * sx, (p[1] - y0) * sy] for p in st.get("points") or []], np.float64)
        if len(pts) == 0:
            continue
        width = max(1, round(float(st.get("width", 3.0)) * sx))
        poly = np.round(pts).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [poly], False, _hex_rgb(str(st.get("color", "#ff3b30"))), width, cv2.LINE_AA)
        if len(pts) == 1:
            cv2.circle(img, tuple(int(v) for v in poly[0, 0]), width, _hex_rgb(str(st.get("color", "#ff3b30"))), -1, cv2.LINE_AA)
    return img


def _reviewer_images(doc: dict[str, Any], th: Thumbnailer) -> list[tuple[dict[str, Any], np.ndarray | None]]:
    """Each reviewer flag with the frame's comp and the flag's strokes on it (None when the comp is unreadable)."""
    from recast.pipeline.jobs.review import read_reviewer_flags
    from recast.qc.cropio import image_info

    if not doc.get("out"):
        return []
    comps = {f["frame"]: f.get("comp") for f in doc["frames"]}
    out: list[tuple[dict[str, Any], np.ndarray | None]] = []
    for fl in read_reviewer_flags(Path(str(doc["out"]))):
        comp = comps.get(fl["frame"])
        img = None
        if comp and Path(comp).is_file():
            try:
                disp = (th.display_of(comp) * 255 + 0.5).clip(0, 255).astype(np.uint8)
                img = draw_strokes(disp, list(fl.get("strokes") or []), image_info(comp).display_window)
            except QCError:
                img = None
        out.append((fl, img))
    return out


def _images(doc: dict[str, Any], options: ReportOptions, rules: Rules) -> ReportImages:
    th = Thumbnailer(width=options.thumb_width, job_space=((doc.get("job_info") or {}).get("settings") or {}).get("colorspace"))

    def triptychs(f: dict[str, Any]) -> np.ndarray | None:
        if not (f.get("plate") and f.get("comp") and Path(f["plate"]).is_file() and Path(f["comp"]).is_file()):
            return None
        try:
            colour = PlateColour.from_json(f.get("colorspace"))  # the engine's decision (old scores: from the files)
            whole = th.triptych(f["plate"], f["comp"], colour=colour)
            if f.get("faces"):  # the face up close under the whole frame
                close = th.triptych(f["plate"], f["comp"], f["faces"][0]["box"], colour=colour)
                pad = np.full((close.shape[0], max(0, whole.shape[1] - close.shape[1]), 3), 255, np.uint8)
                whole = np.concatenate([whole, np.concatenate([close[:, : whole.shape[1]], pad], axis=1)], axis=0)
            return whole
        except QCError:
            return None  # an unreadable comp is already the frame's reason

    small = Thumbnailer(width=max(96, options.thumb_width // 2), job_space=th.job_space)

    def contact_image(f: dict[str, Any]) -> np.ndarray:
        rgb = small.display_of(f["comp"], PlateColour.from_json(f.get("colorspace")))
        return label((rgb * 255 + 0.5).clip(0, 255).astype(np.uint8), f"{f['frame']} {f['status']}", f["status"])

    failing = [f for f in doc["frames"] if f["status"] == "fail"][: options.max_flagged]
    picked = _pick_contact(doc["frames"], options.contact_frames)
    # whole frames are decoded for these (OIIO, OpenCV and OCIO release the GIL): a few at a
    # time, while this thread draws and renders the plots (matplotlib holds the GIL)
    with ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, 8)), thread_name_prefix="recast-report") as pool:
        flagged_jobs = pool.map(triptychs, failing)
        contact_jobs = pool.map(contact_image, picked)
        imgs = ReportImages([(n, f) for n in doc["metrics"] if (f := plot_metric(doc, n, rules)) is not None], [], [])
        for name, fig in imgs.plots:
            imgs.plot_rgb(name, fig)
        imgs.flagged = [(f, im) for f, im in zip(failing, flagged_jobs, strict=True) if im is not None]
        imgs.contact = list(zip(picked, contact_jobs, strict=True))
    imgs.reviewer = _reviewer_images(doc, th)
    return imgs


CSS = """body{font-family:system-ui,sans-serif;margin:24px;background:#f6f6f4;color:#222}
h1{margin:0 0 4px}table{border-collapse:collapse;margin:8px 0}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.pass{color:#3caa5a}.warn{color:#c88a00}.fail{color:#dc3232;font-weight:bold}.synthetic{background:#dc3232;color:#fff;padding:2px 8px;border-radius:3px;font-weight:bold}
.grid{display:flex;flex-wrap:wrap;gap:6px}.grid figure{margin:0}figcaption{font-size:12px}img{max-width:100%}section{background:#fff;padding:12px 16px;margin:12px 0;border-radius:6px}"""


def render_html(doc: dict[str, Any], imgs: ReportImages, lic: list[str]) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>QC {e(str(doc.get('job') or doc.get('out')))}</title><style>{CSS}</style></head><body>",
             "<h1>Recast QC report</h1><p><span class='synthetic'>SYNTHETIC</span> face replacement — every comp frame here is machine-made.</p>",
             "<section><h2>Summary</h2><table>"]
    parts += [f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _summary(doc)]
    parts.append(f"<tr><th>licences</th><td>{'<br>'.join(e(x) for x in lic) or '—'}</td></tr>")
    parts.append(f"<tr><th>software versions</th><td>{e(', '.join(f'{k} {v}' for k, v in versions().items()))}</td></tr></table></section>")
    flagged = [f for f in doc["frames"] if f["status"] in ("fail", "warn")]
    parts.append("<section><h2>Flagged and warning frames</h2>")
    if flagged:
        parts.append("<table><tr><th>frame</th><th>status</th><th>reasons</th></tr>")
        parts += [f"<tr><td>{f['frame']}</td><td class='{f['status']}'>{f['status']}</td><td>{'<br>'.join(e(r) for r in f['reasons'])}</td></tr>" for f in flagged]
        parts.append("</table>")
    else:
        parts.append("<p class='pass'>No frame warns or fails.</p>")
    parts.append("</section><section><h2>Metrics over frames</h2>")
    parts += [_img(png_bytes(imgs.plot_rgb(name, fig)), name) for name, fig in imgs.plots]
    unavailable = unavailable_metrics(doc)
    if unavailable:
        parts.append("<h3>Unavailable</h3><ul>" + "".join(f"<li>{e(u)}</li>" for u in unavailable[:20]) + "</ul>")
    parts.append("</section><section><h2>Failing frames: plate | comp | difference ×4 (whole frame, then the face)</h2><div class='grid'>")
    parts += [f"<figure>{_img(png_bytes(im), str(f['frame']))}<figcaption class='fail'>{f['frame']}: {e('; '.join(f['reasons'])[:300])}</figcaption></figure>" for f, im in imgs.flagged]
    if not imgs.flagged:
        parts.append("<p>None.</p>")
    parts.append("</div></section><section><h2>Reviewer flags: notes and strokes</h2><div class='grid'>")
    for fl, im in imgs.reviewer:
        cap = f"{fl['frame']}: {e(str(fl.get('author') or ''))} — {e(str(fl.get('note') or fl.get('reason') or ''))[:300]}"
        if fl.get("strokes"):
            cap += f" ({len(fl['strokes'])} stroke{'s' if len(fl['strokes']) != 1 else ''})"
        body = _img(png_bytes(im), f"reviewer flag {fl['frame']}") if im is not None else ""
        parts.append(f"<figure class='reviewer' data-frame='{fl['frame']}'>{body}<figcaption>{cap}</figcaption></figure>")
    if not imgs.reviewer:
        parts.append("<p>None.</p>")
    parts.append("</div></section><section><h2>Contact sheet (comp)</h2><div class='grid'>")
    parts += [f"<figure>{_img(png_bytes(im), str(f['frame']))}</figure>" for f, im in imgs.contact]
    parts.append("</div></section></body></html>")
    return "\n".join(parts)


def unavailable_metrics(doc: dict[str, Any]) -> list[str]:
    """``"metric: reason"`` for every metric left without a value (on frames that did not fail)."""
    return sorted({f"{n}: {m['reason']}" for fr in doc["frames"] for n, m in fr["metrics"].items()
                   if m["value"] is None and m.get("reason") and fr["status"] != "fail"})


def _lpips_row(doc: dict[str, Any]) -> str:
    """Where LPIPS's trunk came from, or why LPIPS has no values in this report."""
    trunk = str((doc.get("job_info") or {}).get("lpips_trunk") or "—")
    values = [fr["metrics"]["lpips"] for fr in doc["frames"] if "lpips" in fr["metrics"]]
    if values and all(v["value"] is None for v in values):
        reason = next((v["reason"] for v in values if v.get("reason")), "no value")
        return f"unavailable ({reason})"
    return trunk


def _pdf(path: Path, doc: dict[str, Any], imgs: ReportImages, lic: list[str]) -> None:
    with atomic_path(path) as tmp, PdfPages(tmp) as pdf:
        page = Figure(figsize=(8.27, 11.69))
        FigureCanvasAgg(page)
        lines = ["Recast QC report    [SYNTHETIC]", ""] + [f"{k}: {v}" for k, v in _summary(doc)]
        lines += ["", "licences:"] + [f"  {x}" for x in lic[:12]] + ["", "failing frames:"]
        failing = [f"  {f['frame']}: {'; '.join(f['reasons'])[:110]}" for f in doc["frames"] if f["status"] == "fail"]
        lines += failing[:30] or ["  none"]
        unavailable = unavailable_metrics(doc)
        if unavailable:
            lines += ["", "unavailable:"] + [f"  {u[:120]}" for u in unavailable[:12]]
        page.text(0.06, 0.96, "\n".join(lines), va="top", family="monospace", fontsize=7.5)
        pdf.savefig(page)
        for i in range(0, len(imgs.plots), 4):
            page = Figure(figsize=(8.27, 11.69))
            FigureCanvasAgg(page)
            for j, (name, fig) in enumerate(imgs.plots[i : i + 4]):
                ax = page.add_subplot(4, 1, j + 1)
                ax.imshow(imgs.plot_rgb(name, fig))
                ax.axis("off")
            pdf.savefig(page)
        shown = [(f, im) for f, im in imgs.reviewer if im is not None]
        for i in range(0, len(shown), 4):
            page = Figure(figsize=(8.27, 11.69))
            FigureCanvasAgg(page)
            for j, (fl, im) in enumerate(shown[i : i + 4]):
                ax = page.add_subplot(4, 1, j + 1)
                ax.imshow(im)
                ax.set_title(f"reviewer flag, frame {fl['frame']} ({fl.get('author') or ''}): {str(fl.get('note') or fl.get('reason') or '')[:90]}", fontsize=7)
                ax.axis("off")
            pdf.savefig(page)
        for i in range(0, len(imgs.flagged), 4):
            page = Figure(figsize=(8.27, 11.69))
            FigureCanvasAgg(page)
            for j, (f, im) in enumerate(imgs.flagged[i : i + 4]):
                ax = page.add_subplot(4, 1, j + 1)
                ax.imshow(im)
                ax.set_title(f"frame {f['frame']}: plate | comp | diff x4 — {'; '.join(f['reasons'])[:90]}", fontsize=7)
                ax.axis("off")
            pdf.savefig(page)


def _rgb_of(fig: Figure) -> np.ndarray:
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def write_report(doc: dict[str, Any], out_dir: str | Path, pdf: bool = False, options: ReportOptions | None = None) -> list[Path]:
    """Write ``index.html`` (and ``report.pdf``) into ``out_dir``; returns the paths."""
    options = options or ReportOptions()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise QCError(f"{out_dir}: exists and is not a directory")
    if not doc.get("frames"):
        raise QCError(f"{doc.get('out')}: scores hold no frames")
    rules = Rules.load(options.thresholds)
    imgs = _images(doc, options, rules)
    lic = licences(doc)
    written = [out_dir / "index.html"]
    atomic_write_bytes(written[0], render_html(doc, imgs, lic).encode())
    if pdf:
        written.append(out_dir / "report.pdf")
        _pdf(written[1], doc, imgs, lic)
    return written
