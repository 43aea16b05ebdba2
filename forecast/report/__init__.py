"""Report: figures (matplotlib Figures, never shown) and the self-contained report.html pages."""

HISTORY_BARS = 120  # the closes a forecast's fan chart shows before its first bar
