"""Confirm a promotion and ask for the note recorded with it."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

TARGET_NAMES = {"staging": "Staging", "production": "Production", "archived": "Archived"}


class PromoteDialog(QDialog):
    def __init__(self, name: str, version: str, to: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Promote to {TARGET_NAMES.get(to, to)}")
        self.note = QPlainTextEdit(placeholderText="Why this version (kept as an audit tag)")
        self.note.setToolTip("Recorded on the version with who promoted it and when")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText(f"Promote to {TARGET_NAMES.get(to, to)}")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel(f"Promote <b>{name}</b> version <b>{version}</b> to <b>{TARGET_NAMES.get(to, to)}</b>?")
        )
        layout.addWidget(QLabel("Note"))
        layout.addWidget(self.note)
        layout.addWidget(buttons)

    def note_text(self) -> str:
        return self.note.toPlainText().strip()
