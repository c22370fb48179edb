"""The README's map of bot/ stays honest: every package is on it, and nothing on it is gone.

The map is the code block under «## Architecture»: a line starts with the names of packages
(``core/``) or modules (``conversation.py``), indented two spaces per level below their
package, then the description; a line that starts with no name goes on describing.
"""

import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"[\w.]+(/|\.py)")
NOT_PACKAGES = {"migrations", "versions", "web_static", "__pycache__"}


def map_lines(readme: str) -> list[str]:
    section = readme.split("## Architecture", 1)[1]
    return section.split("```", 2)[1].splitlines()[1:]


def leading_names(line: str) -> Iterator[str]:
    for word in line.split():
        if not NAME.fullmatch(word):
            return
        yield word


def mapped_paths(readme: str) -> set[str]:
    """Every path the map names, as 'bot/core/conversation.py' or 'bot/core/'."""
    paths: set[str] = set()
    parents: list[str] = []
    for line in map_lines(readme):
        names = list(leading_names(line))
        if not names:
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        del parents[depth:]
        for name in names:
            paths.add("".join(parents) + name)
        if len(names) == 1 and names[0].endswith("/"):
            parents.append(names[0])
    return paths


def packages() -> set[str]:
    return {str(init.parent.relative_to(ROOT)) + "/" for init in (ROOT / "bot").rglob("__init__.py")
            if not NOT_PACKAGES & set(init.parts)}


def test_the_map_reads_nested_paths() -> None:
    readme = ("## Architecture\n```\nbot/\n  core/  the core\n    a.py b.py  two\n"
              "                   more\n  c.py  one\n```\n")
    assert mapped_paths(readme) == {"bot/", "bot/core/", "bot/core/a.py", "bot/core/b.py", "bot/c.py"}


def test_every_package_is_on_the_map() -> None:
    mapped = mapped_paths((ROOT / "README.md").read_text())
    assert packages() - mapped == set()


def test_nothing_on_the_map_is_gone() -> None:
    mapped = mapped_paths((ROOT / "README.md").read_text())
    assert {path for path in mapped if not (ROOT / path).exists()} == set()
