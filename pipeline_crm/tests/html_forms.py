"""Reading a form off a rendered page, as a browser would submit it."""

from __future__ import annotations

from html.parser import HTMLParser


class _FormReader(HTMLParser):
    def __init__(self, action: str) -> None:
        super().__init__(convert_charrefs=True)
        self.action = action
        self.found = False
        self.inside = False
        self.data: dict[str, str] = {}
        self._select: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if tag == "form" and not self.found and attr.get("action") == self.action:
            self.found = self.inside = True
        if not self.inside:
            return
        name = attr.get("name")
        if tag == "input" and name and attr.get("type") not in ("submit", "button"):
            if attr.get("type") in ("checkbox", "radio"):
                if "checked" in attr:
                    self.data[name] = attr.get("value") or "on"
            else:
                self.data[name] = attr.get("value", "")
        elif tag == "select" and name:
            self._select, self._select_first = name, None
        elif tag == "option" and self._select:
            value = attr.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in attr:
                self.data[self._select] = value
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select" and self._select:
            self.data.setdefault(self._select, self._select_first or "")
            self._select = None
        elif tag == "textarea":
            # A browser drops the newline that follows <textarea>.
            if self._textarea and self.data[self._textarea].startswith("\n"):
                self.data[self._textarea] = self.data[self._textarea][1:]
            self._textarea = None
        elif tag == "form" and self.inside:
            self.inside = False


def form_data(html: str | bytes, action: str) -> dict[str, str]:
    """The fields the form posting to `action` sends as the page shows them: inputs
    (hidden ones too), ticked boxes, the selected option of each select, textareas."""
    reader = _FormReader(action)
    reader.feed(html.decode() if isinstance(html, bytes) else html)
    assert reader.found, f"no form posts to {action}"
    return reader.data
