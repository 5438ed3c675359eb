"""The return label a customer prints or shows the courier: a QR code of the request number,
the number and the order in large type, as PNG or PDF.

The warehouse scans the QR code when the parcel arrives to find the request; the text is for
people (ASCII only, so Pillow's built-in font draws it without a font file). segno makes the
QR code (pure Python, no image library of its own), Pillow lays out the label and writes
PNG or PDF.
"""
from __future__ import annotations

import io

import segno
from PIL import Image, ImageDraw, ImageFont

WIDTH = 600
MARGIN = 30
QR_TOP = MARGIN + 120
QR_BORDER = 2
FORMATS = {"png": ("PNG", "image/png"), "pdf": ("PDF", "application/pdf")}


def label(number: str, order_id: str, kind: str = "png") -> tuple[bytes, str]:
    """(the label's bytes, its content type) for request `number` of order `order_id`, as
    `kind` png or pdf."""
    pil_format, content_type = FORMATS[kind]
    qr = segno.make_qr(number, error="m")
    # Whole pixels per module, as large as fits: scaled after drawing, modules would blur.
    scale = (WIDTH - 2 * MARGIN) // qr.symbol_size(scale=1, border=QR_BORDER)[0]
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=scale, border=QR_BORDER)
    code = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    page = Image.new("RGB", (WIDTH, WIDTH + 200), "white")
    page.paste(code, ((WIDTH - code.width) // 2, QR_TOP))
    draw = ImageDraw.Draw(page)
    big, small = ImageFont.load_default(size=40), ImageFont.load_default(size=24)
    draw.text((MARGIN, MARGIN), "AFTER-SALES RETURN", font=small, fill="black")
    draw.text((MARGIN, MARGIN + 40), number, font=big, fill="black")
    draw.text((MARGIN, WIDTH + 110), f"Order {order_id}", font=small, fill="black")
    draw.text((MARGIN, WIDTH + 145), "Put this label on the parcel.", font=small, fill="black")
    out = io.BytesIO()
    page.save(out, pil_format, **({"resolution": 150.0} if kind == "pdf" else {}))
    return out.getvalue(), content_type
