"""The command palette: cmtui's own commands first, built from the current state."""

from __future__ import annotations

from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from ..queues import MODES, NEEDS_LABEL, NEEDS_QUERY


class CmtuiCommands(Provider):
    """Command palette entries built from the current state: cmtui's own first (modes,
    per-label modes, screens), Textual's generic ones after them."""

    def _commands(self) -> list[tuple[str, Any, str]]:
        app: Any = self.app  # the CmtuiApp
        commands: list[tuple[str, Any, str]] = [
            (f"Mode: {title}", partial(app.start_mode, key, None), "show this training mode's queue")
            for key, title in MODES.items() if key not in NEEDS_LABEL and key not in NEEDS_QUERY
        ]
        commands += [("Mode: Search", partial(app._mode_chosen, "search"), "messages matching words"),
                     ("Validation", app.action_validation, "per-label figures and model rating"),
                     ("Analytics", app.action_analytics, "label volumes over time, sentiment, label pairs"),
                     ("Datasets", app.action_datasets, "open, create or import into a dataset"),
                     ("Submit page", app.action_submit, "save the page and retrain"),
                     ("Help", app.action_help, "keys and rules")]
        if app.session is not None:
            for label in app.session.labels:
                for key in ("teach", "label", "check-label", "missed-label"):
                    commands.append((f"{MODES[key]}: {label}", partial(app.start_mode, key, label),
                                     f"{MODES[key]} mode for this label"))
        return commands

    async def discover(self) -> Hits:
        for text, callback, help_text in self._commands()[:14]:
            yield DiscoveryHit(text, callback, help=help_text)
        for command in self.app.get_system_commands(self.screen):
            yield DiscoveryHit(command.title, command.callback, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help_text in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text)
        for command in self.app.get_system_commands(self.screen):
            score = matcher.match(command.title)
            if score > 0:  # Textual's own commands rank below cmtui's
                yield Hit(score * 0.5, matcher.highlight(command.title), command.callback, help=command.help)
