"""The lab spec: models (models.py), YAML loading with positions (load.py), validation."""
