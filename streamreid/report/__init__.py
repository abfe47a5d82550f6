"""Report of a run: an animated WebP per person and a self-contained ``report.html``."""

from streamreid.report.html import write_report
from streamreid.report.webp import write_person_webp, write_person_webps

__all__ = ["write_person_webp", "write_person_webps", "write_report"]
