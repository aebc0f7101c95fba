"""Discord's message, embed and button limits: plain numbers, at the bottom of ``render``.

discord.py checks none of these, and Discord rejects a whole message (HTTP 400, code 50035)
that breaks one. The figures are Discord's documented limits (API reference, "Embed Limits",
"Create Message" and "Button Object"); :data:`URL_MAX` is our own cap. The code that measures
and fits messages to them is :mod:`bot.core.render.fit`; the message types themselves are in
:mod:`bot.core.render.message`. Nothing here imports anything, so every module of the
package may import these.
"""

from __future__ import annotations

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_NAME_MAX = 256
EMBED_TOTAL_MAX = 6000  # across all embeds of one message
EMBEDS_PER_MESSAGE = 10
CONTENT_MAX = 2000
BUTTON_LABEL_MAX = 80
BUTTON_URL_MAX = 512
BUTTONS_PER_ROW = 5
BUTTONS_MAX = 25
URL_MAX = 2048  # our own cap for embed and link URLs: a longer LL2 URL is dropped, never cut

ELLIPSIS = "…"
# Discord rejects empty field names and values; a zero-width space is the usual stand-in.
BLANK = "\u200b"
