"""Dialogs: settings, promotion, MLflow browser."""
