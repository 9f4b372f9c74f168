"""Small, valid PDF files for the sandboxes' rendered and attached documents (and the demo's drop zone).

`pdf_file()` writes numbered objects with their cross-reference table and trailer; `text_page_pdf()` is
the one-page A4 page with Helvetica (`/F1`) that the sandboxes draw their text on. The same input always
gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence


def pdf_file(objects: Sequence[bytes]) -> bytes:
    """A PDF 1.4 file of these objects, numbered from 1 (object 1 the catalog)."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def text_page_pdf(stream: bytes) -> bytes:
    """One A4 page drawn by the content `stream` (Helvetica as `/F1`)."""
    return pdf_file(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        ]
    )


def pdf_text(text: str) -> str:
    """`text` escaped for a PDF string literal `( )`."""
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
