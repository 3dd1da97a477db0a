"""BASELINE ONLY, not part of the product.

The PDF export a team would write from the seed design with reportlab: one
platypus `Table` of every row, its header row repeated on each page, a
"Page n" footer and the title drawn on every page, built into memory (it is not even
uploaded, which only flatters it). `bench/pdf_compare.py` measures the
broker's PDF export against it with the same rows in the same run.
"""

import io

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.platypus import SimpleDocTemplate, Table, TableStyle

# The broker's layout (crates/worker/src/pdf_export/layout.rs): A4, 36 pt
# margins, 8 pt text, a shaded header row, a grid, a footer.
MARGIN = 36
STYLE = TableStyle(
    [
        ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(225 / 255, 225 / 255, 225 / 255)),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.Color(200 / 255, 200 / 255, 200 / 255)),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
)


def decorate(canvas, doc):
    """The title on top and "Page n" at the bottom of every page, as the broker's."""
    canvas.saveState()
    canvas.setFont("Helvetica-Bold", 13)
    canvas.drawString(MARGIN, doc.pagesize[1] - MARGIN + 8, doc.title)
    canvas.setFont("Helvetica", 7.5)
    canvas.drawRightString(doc.pagesize[0] - MARGIN, MARGIN / 2, f"Page {doc.page}")
    canvas.restoreState()


def render(title, columns, rows):
    """The PDF's bytes and its page count."""
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=landscape(A4) if len(columns) > 8 else A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + 16,
        bottomMargin=MARGIN,
        title=title,
    )
    table = Table([columns, *rows], repeatRows=1)
    table.setStyle(STYLE)
    doc.build([table], onFirstPage=decorate, onLaterPages=decorate)
    return out.getvalue(), doc.page
