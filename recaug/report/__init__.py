"""The run report: one self-contained HTML page (and Markdown twin) per pipeline run."""
