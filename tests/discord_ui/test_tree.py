"""The whole command tree against Discord's registration rules, which discord.py doesn't check.

Discord rejects a bulk sync outright if one name, description, option or choice breaks a rule,
and an autocomplete answer with more than 25 choices fails silently for the user.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from discord import app_commands

from bot.core.snapshot import Snapshot, Source
from tests.discord_ui.conftest import World, upcoming_launch

NAME = re.compile(r"^[-_\w]{1,32}$")
OPTION_CONTAINERS = (1, 2)  # SUB_COMMAND, SUB_COMMAND_GROUP


def walk(commands: list[Any], path: str = "") -> Iterator[tuple[str, Any]]:
    """Every command, group and subcommand of the tree, with its full path."""
    for command in commands:
        full = f"{path} {command.name}".strip()
        yield full, command
        if isinstance(command, app_commands.Group):
            yield from walk(command.commands, full)


def payload_nodes(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every command and option of the JSON Discord receives, with a readable path."""
    yield path, node
    for option in node.get("options", []):
        yield from payload_nodes(option, f"{path} {option['name']}")


def check_text(where: str, name: str, description: str) -> list[str]:
    """Rule violations of one name/description pair."""
    problems = []
    if not NAME.match(name) or name != name.lower():
        problems.append(f"{where}: name {name!r} must be 1-32 lowercase characters")
    if not 1 <= len(description) <= 100:
        problems.append(f"{where}: description is {len(description)} characters (1-100)")
    return problems


def test_every_command_and_option_follows_discords_rules(world: World) -> None:
    """Names, descriptions, option and choice counts across the tree and its sync payload."""
    problems: list[str] = []
    tree = world.bot.tree
    commands = tree.get_commands()
    assert len(commands) <= 100
    for path, command in walk(commands):
        problems += check_text(path, command.name, command.description)
        if isinstance(command, app_commands.Group):
            assert len(command.commands) <= 25, path
            continue
        assert len(command.parameters) <= 25, path
        for param in command.parameters:
            problems += check_text(
                f"{path} {param.display_name}", param.display_name, param.description
            )
            assert len(param.choices) <= 25, f"{path} {param.name}"
            for choice in param.choices:
                if not 1 <= len(choice.name) <= 100:
                    problems.append(f"{path} {param.name}: choice {choice.name!r}")
    for command in commands:
        for path, node in payload_nodes(command.to_dict(tree), command.name):
            problems += check_text(f"payload {path}", node["name"], node["description"])
            assert len(node.get("options", [])) <= 25, path
            assert len(node.get("choices", [])) <= 25, path
            for choice in node.get("choices", []):
                assert 1 <= len(choice["name"]) <= 100
                assert len(str(choice["value"])) <= 100
            if node.get("autocomplete"):
                assert not node.get("choices"), (
                    f"{path}: autocomplete and choices exclude each other"
                )
    assert problems == []


def autocomplete_options(world: World) -> list[tuple[str, str]]:
    """``(command path, option name)`` of every autocomplete option Discord was told about."""
    found = []
    for command in world.bot.tree.get_commands():
        for path, node in payload_nodes(command.to_dict(world.bot.tree), command.name):
            if node.get("autocomplete"):
                found.append((path.rsplit(" ", 1)[0], node["name"]))
    return found


async def fill_store(world: World, count: int = 100) -> None:
    """``count`` matching items of every kind autocomplete reads."""
    await world.store.save_event_types(
        [(100 + i, f"Test type {i}") for i in range(count)], world.now
    )
    base = upcoming_launch(world.now + timedelta(days=1))
    launches = [
        base.model_copy(
            update={"id": f"launch-{i}", "name": f"Test launch {i}", "provider_id": 1000 + i}
        )
        for i in range(count)
    ]
    events = [
        Snapshot(
            source=Source.EVENT,
            id=str(5000 + i),
            name=f"Test event {i}",
            type_id=2,
            date=world.now + timedelta(hours=i + 1),
        )
        for i in range(count)
    ]
    await world.store.save_snapshots([*launches, *events], seen_at=world.now)
    for i in range(count):
        await world.store.add_subscription(world.guild.id, world.channel.id + i)


async def test_every_autocomplete_returns_at_most_25_valid_choices(world: World) -> None:
    """With 100 matches of everything, each autocomplete still answers 25 or fewer, clipped."""
    await fill_store(world)
    options = autocomplete_options(world)
    # types, providers, kinds, 5× id, next type, event query, schedule enable types
    assert len(options) == 11, options
    for path, option in options:
        for typed in ("", "t", "1", "test", "2,"):
            choices = await world.admin.autocomplete(world.channel, path, option, typed)
            assert len(choices) <= 25, (path, option, typed)
            for choice in choices:
                assert 1 <= len(choice["name"]) <= 100, (path, option, choice)
                assert len(str(choice["value"])) <= 100, (path, option, choice)
        if option != "kinds":  # only five kinds exist
            assert len(await world.admin.autocomplete(world.channel, path, option, "")) == 25, (
                path,
                option,
            )
