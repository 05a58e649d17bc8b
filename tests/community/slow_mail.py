"""An email backend for the real-worker tests: writes each message to a file, and blocks
while a marker file exists, so a test can SIGKILL the worker at a chosen point of a send.

``TEST_MAIL_BLOCK_BEFORE=N``: before writing a message, once N messages are in the folder,
touch ``TEST_MAIL_DIR/waiting`` and block (the kill lands before that send). Unset: write each
message, then block (the kill lands after the accept, before the digest is marked sent).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend


def _wait(block: Path) -> None:
    deadline = time.monotonic() + 120
    while block.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


class EmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        folder = Path(os.environ["TEST_MAIL_DIR"])
        block = Path(os.environ["TEST_MAIL_BLOCK"])
        before = os.environ.get("TEST_MAIL_BLOCK_BEFORE")
        for message in email_messages:
            if before is not None and len(list(folder.glob("*.eml"))) >= int(before):
                if block.exists():
                    (folder / "waiting").touch()
                _wait(block)
            (folder / f"{uuid.uuid4().hex}.eml").write_bytes(message.message().as_bytes())
        if before is None:
            _wait(block)
        return len(email_messages)
