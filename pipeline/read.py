"""Stage driver for reading a scanned IFB1: intake, registration, barcode, segmentation.

Reads like the algorithm, one call per stage::

    scan = load_scan(path)                                   # decode once
    reg = register(page.image, layout=..., ppi_hint=...)     # box grid -> transform
    code = decode_barcode(page.image, transform=reg.transform, layout=...)
    boxes = segment(page.image, reg, layout=...)             # 14 boxes at 500 ppi

Registration runs before the barcode so that the label zone can be cut out
deskewed (and the right way up) from the measured transform.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ifb1.barcode.decode import BarcodeParams, BarcodeResult, decode_barcode
from ifb1.barcode.ids import safe_output_name, validate_form_id
from ifb1.forms.layout import Layout

from ifb1.intake.scan import DEFAULT_MAX_PIXELS, IntakeError, Page, Scan, load_scan
from .register import Registration, RegisterParams, RegistrationError, register
from .segment import BoxRegion, SegmentParams, segment

# Metadata resolution is kept when the form's measured geometry agrees with it
# this closely; otherwise the measured resolution is used.
PPI_AGREEMENT = 0.03


@dataclass(frozen=True)
class ReadParams:
    """Parameters of the whole read (each stage's own frozen parameters)."""

    register: RegisterParams = RegisterParams()
    barcode: BarcodeParams = BarcodeParams()
    segment: SegmentParams = SegmentParams()
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class FormReading:
    """The result of reading one page of a scan.

    Attributes
    ----------
    source : str
        The path as given.
    page, n_pages : int
        0-based page index and the file's page count.
    status : str
        ``"ok"`` or ``"rejected"``.
    error : str or None
        A sentence naming the problem when rejected.
    sha256, format : str or None
        Of the scan file (None when it could not be read at all).
    form_id : str or None
        Validated id from the barcode, else from the operator's ``--form-id``.
    form_id_source : str or None
        ``"barcode"``, ``"operator"`` or None.
    manual_entry : bool
        No valid id was read from the barcode: staff must key it in.
    barcode : BarcodeResult or None
    ppi, ppi_source : float, str
        Resolution the page was read at, from ``"metadata"`` or ``"measured"``.
    ppi_metadata : float or None
        What the file stated (also when implausible, e.g. 72).
    registration : Registration or None
    boxes : tuple of BoxRegion
    timings_ms : dict
        Wall time per stage (``decode`` is the file's, shared by its pages).
    warnings : tuple of str
    page_image : np.ndarray or None
        The decoded grey page (for previews); not part of the JSON result.
    """

    source: str
    page: int = 0
    n_pages: int = 1
    status: str = "rejected"
    error: str | None = None
    sha256: str | None = None
    format: str | None = None
    form_id: str | None = None
    form_id_source: str | None = None
    manual_entry: bool = True
    barcode: BarcodeResult | None = None
    ppi: float | None = None
    ppi_source: str | None = None
    ppi_metadata: float | None = None
    registration: Registration | None = None
    boxes: tuple[BoxRegion, ...] = ()
    timings_ms: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    page_image: object = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def output_name(self) -> str | None:
        """Safe folder name for this form's outputs (never raw barcode text)."""
        if self.sha256 is None:
            return None
        return safe_output_name(self.form_id, self.sha256, page=self.page, n_pages=self.n_pages)

    def to_dict(self) -> dict:
        """The JSON result object (one line of ``ifb1 process --json``)."""
        reg = self.registration
        bc = self.barcode.chosen if self.barcode is not None else None
        d = {
            "source": self.source,
            "status": self.status,
            "page": self.page,
            "pages": self.n_pages,
            "sha256": self.sha256,
            "format": self.format,
            "form_id": self.form_id,
            "form_id_source": self.form_id_source,
            "manual_entry": self.manual_entry,
            "barcode": None if bc is None else {
                "text": bc.text, "format": bc.format,
                "corners_px": [[round(x, 1), round(y, 1)] for x, y in bc.corners_px],
                "valid_id": bc.valid_id, "searched": self.barcode.searched,
            },
            "barcodes": [] if self.barcode is None else [h.as_dict() for h in self.barcode.hits],
            "ppi": None if self.ppi is None else round(self.ppi, 2),
            "ppi_source": self.ppi_source,
            "ppi_metadata": self.ppi_metadata,
            "ppi_measured": None if reg is None else round(reg.ppi_measured, 2),
            "resampled_from": None if reg is None else round(reg.ppi_measured, 2),
            "print_ppi": self.boxes[0].ppi if self.boxes else None,
            "upside_down": None if reg is None else reg.upside_down,
            "rotation_deg": None if reg is None else round(reg.rotation_deg, 3),
            "registration_residual_px": None if reg is None else round(reg.residual_px, 3),
            "prints": [
                {
                    "position": b.position,
                    "finger": b.finger,
                    "impression": b.impression,
                    "corners_px": [[round(x, 1), round(y, 1)] for x, y in b.corners_px],
                    "present": b.present,
                    "area_mm2": round(b.area_mm2, 1),
                    "bbox_px": None if b.bbox_page_px is None else [round(v, 1) for v in b.bbox_page_px],
                    "annotation": None if b.annotation is None else b.annotation.as_dict(),
                }
                for b in self.boxes
            ],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "warnings": list(self.warnings),
        }
        if self.error is not None:
            d["error"] = self.error
        return d


def _choose_ppi(page: Page, reg: Registration) -> tuple[float, str]:
    if page.ppi_plausible and page.ppi_metadata:
        if abs(reg.ppi_measured / page.ppi_metadata - 1.0) <= PPI_AGREEMENT:
            return float(page.ppi_metadata), "metadata"
    return float(reg.ppi_measured), "measured"


def read_page(scan: Scan, page: Page, *, layout: Layout, params: ReadParams = ReadParams(),
              form_id: str | None = None) -> FormReading:
    """Register, decode the barcode and segment one decoded page.

    Parameters
    ----------
    scan : Scan
        The decoded file (for its identity and decode time).
    page : Page
        One of ``scan.pages``.
    layout : Layout
    params : ReadParams
    form_id : str, optional
        Operator-supplied id used when no valid barcode is read.

    Returns
    -------
    FormReading
        ``status`` ``"rejected"`` with ``error`` when no IFB1 grid is found.
    """
    base = dict(source=scan.source, page=page.index, n_pages=len(scan.pages) + len(scan.skipped),
                sha256=scan.sha256, format=scan.format, ppi_metadata=page.ppi_metadata)
    timings = {"decode": scan.decode_ms}
    warnings: list[str] = list(scan.skipped)
    if page.ppi_metadata is not None and not page.ppi_plausible:
        warnings.append(f"stated resolution {page.ppi_metadata:g} ppi is implausible and was ignored")

    t = time.perf_counter()
    try:
        reg = register(page.image, layout=layout, ppi_hint=page.ppi_metadata if page.ppi_plausible else None,
                       params=params.register)
    except RegistrationError as exc:
        timings["register"] = (time.perf_counter() - t) * 1000.0
        where = f"page {page.index + 1}" if base["n_pages"] > 1 else "the page"
        return FormReading(**base, status="rejected", error=f"{scan.source}: {where}: {exc}",
                           timings_ms=timings, warnings=tuple(warnings))
    timings["register"] = (time.perf_counter() - t) * 1000.0

    t = time.perf_counter()
    code = decode_barcode(page.image, transform=reg.transform, layout=layout, params=params.barcode)
    timings["barcode"] = (time.perf_counter() - t) * 1000.0

    t = time.perf_counter()
    boxes = segment(page.image, reg, layout=layout, params=params.segment)
    timings["segment"] = (time.perf_counter() - t) * 1000.0

    ppi, ppi_source = _choose_ppi(page, reg)
    if page.ppi_plausible and ppi_source == "measured":
        warnings.append(f"stated resolution {page.ppi_metadata:g} ppi disagrees with the form's measured "
                        f"{reg.ppi_measured:.1f} ppi (a scaled copy?); measured used")
    fid, fid_source = code.form_id, ("barcode" if code.form_id else None)
    operator = validate_form_id(form_id) if form_id else None
    if fid is None and operator is not None:
        fid, fid_source = operator, "operator"
    elif fid is not None and operator is not None and operator != fid:
        warnings.append(f"the operator's form id {operator} differs from the barcode's {fid}; barcode kept")
    if code.chosen is not None and code.form_id is None:
        warnings.append("a barcode was read but its text is not a valid form id")
    return FormReading(
        **base,
        status="ok",
        form_id=fid,
        form_id_source=fid_source,
        manual_entry=code.form_id is None,
        barcode=code,
        ppi=ppi,
        ppi_source=ppi_source,
        registration=reg,
        boxes=boxes,
        timings_ms=timings,
        warnings=tuple(warnings),
        page_image=page.image,
    )


def read_scan(path, *, layout: Layout | None = None, params: ReadParams = ReadParams(),
              form_id: str | None = None) -> list[FormReading]:
    """Read every page of one scan file; never raises for bad input.

    Parameters
    ----------
    path : str or Path
        The scan (PNG, TIFF, JPEG, BMP or PDF).
    layout : Layout, optional
        The form template; the bundled IFB1 layout when omitted.
    params : ReadParams
    form_id : str, optional
        Operator-supplied form id for pages whose barcode cannot be read.

    Returns
    -------
    list of FormReading
        One per page; a single rejected reading when the file cannot be read.
    """
    if layout is None:
        from ifb1.forms import load_layout

        layout = load_layout()
    try:
        scan = load_scan(path, max_pixels=params.max_pixels)
    except IntakeError as exc:
        return [FormReading(source=str(path), status="rejected", error=str(exc))]
    readings = [read_page(scan, p, layout=layout, params=params, form_id=form_id) for p in scan.pages]
    return readings

