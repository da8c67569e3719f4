"""Figures, HTML tables and the report's prose, putting the findings side by side for a reader."""
