"""An email backend for the real-worker test: writes each message to a file, then blocks
while a marker file exists, so the test can SIGKILL the worker in the middle of a send."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend


class EmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        folder = Path(os.environ["TEST_MAIL_DIR"])
        block = Path(os.environ["TEST_MAIL_BLOCK"])
        for message in email_messages:
            (folder / f"{uuid.uuid4().hex}.eml").write_bytes(message.message().as_bytes())
        deadline = time.monotonic() + 120
        while block.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        return len(email_messages)
