"""Reports: HTML and SVG, the audit section, the dataset card, the experiment section."""
