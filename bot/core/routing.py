"""An explicit registry from commands, button payloads and conversation states to handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from bot.core.after_commit import Answer
from bot.core.context import Context
from bot.core.events import Event, EventKind

Handler = Callable[[Event, Context], Awaitable[Sequence[Answer]]]
Gate = Callable[[Event, Context], Awaitable[Sequence[Answer] | None]]
AnyHandler = TypeVar("AnyHandler", bound=Handler)
AnyGate = TypeVar("AnyGate", bound=Gate)


class Router:
    """Resolution order: gates (in registration order; one that answers stops the event),
    then commands, buttons or the conversation state, then the fallback."""

    def __init__(self) -> None:
        self.gates: list[Gate] = []
        self.commands: dict[str, Handler] = {}
        self.buttons: dict[str, Handler] = {}
        self.states: dict[str, Handler] = {}
        self.fallback_handler: Handler | None = None

    def gate(self, gate: AnyGate) -> AnyGate:
        self.gates.append(gate)
        return gate

    def fallback(self, handler: AnyHandler) -> AnyHandler:
        if self.fallback_handler is not None:
            raise ValueError("only one fallback handler")
        self.fallback_handler = handler
        return handler

    def command(self, *names: str) -> Callable[[AnyHandler], AnyHandler]:
        return self._register(self.commands, names)

    def button(self, *prefixes: str) -> Callable[[AnyHandler], AnyHandler]:
        """Buttons whose payload is ``prefix`` or starts with ``prefix:``."""
        return self._register(self.buttons, prefixes)

    def state(self, *names: str) -> Callable[[AnyHandler], AnyHandler]:
        """Free input while the conversation is in one of these states."""
        return self._register(self.states, names)

    def include(self, other: Router) -> None:
        for mine, theirs in ((self.commands, other.commands), (self.buttons, other.buttons),
                             (self.states, other.states)):
            clash = mine.keys() & theirs.keys()
            if clash:
                raise ValueError(f"routes registered twice: {sorted(clash)}")
            mine.update(theirs)
        self.gates.extend(other.gates)
        if other.fallback_handler is not None:
            self.fallback(other.fallback_handler)

    async def dispatch(self, event: Event, ctx: Context) -> Sequence[Answer]:
        for gate in self.gates:
            replies = await gate(event, ctx)
            if replies is not None:
                return replies
        handler = self.resolve(event, ctx.state.name) or self.fallback_handler
        if handler is None:
            return []
        if event.kind in (EventKind.COMMAND, EventKind.BUTTON) and ctx.state.name:
            ctx.state.clear()  # a command or a menu button abandons a half-typed input
        return await handler(event, ctx)

    def resolve(self, event: Event, state: str | None) -> Handler | None:
        if event.kind is EventKind.COMMAND:
            return self.commands.get(event.command or "")
        if event.kind is EventKind.BUTTON:
            return self.buttons.get((event.payload or "").split(":", 1)[0])
        if state is not None:
            return self.states.get(state)
        return None

    @staticmethod
    def _register(table: dict[str, Handler],
                  keys: tuple[str, ...]) -> Callable[[AnyHandler], AnyHandler]:
        def decorator(handler: AnyHandler) -> AnyHandler:
            for key in keys:
                if key in table:
                    raise ValueError(f"{key!r} is already routed to {table[key].__name__}")
                table[key] = handler
            return handler

        return decorator
