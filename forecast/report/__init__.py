"""Report: figures (matplotlib Figures, never shown) and the self-contained report.html pages."""
