"""The faces' helpers: the CLI, form fields and share links, YAML profiles and the charts (Plotly loads lazily)."""
