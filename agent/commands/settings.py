"""`callreel-agent settings show|set|unset`: the user's settings, within what IT allows (R22).

`--policy-file` reads managed policy from another file, e.g. to check a policy before rolling
it out. That cannot be used to widen anything: the file must pass the same root-ownership
check as the default one.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from pathlib import Path

from agent.paths import AgentPaths
from agent.settings.layers import (
    EffectiveSettings,
    SettingRefusedError,
    SettingSource,
    load_settings,
    save_user_setting,
    unset_user_setting,
)
from agent.settings.managed_policy import (
    ManagedSource,
    PolicyError,
    PolicyFile,
    default_managed_source,
)

PROG = "callreel-agent settings"


def add_settings_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--policy-file",
        type=Path,
        metavar="PATH",
        help="read managed policy from this TOML file (it must be root's and not writable by"
        " others) instead of this system's managed policy",
    )
    common.add_argument(
        "--config-dir",
        type=Path,
        metavar="DIR",
        help="the directory of the user settings file agent.toml (default: per-user)",
    )
    settings = commands.add_parser(
        "settings",
        help="show or change the agent's settings",
        description="Managed policy (IT) wins over your settings; some settings only IT can"
        " set, and the notice lead time and upload limit can only be made stricter.",
    )
    actions = settings.add_subparsers(dest="settings_action", required=True, metavar="ACTION")
    actions.add_parser(
        "show", parents=[common], help="every setting, its value and where it comes from"
    )
    set_parser = actions.add_parser("set", parents=[common], help="set one of your settings")
    set_parser.add_argument("name", metavar="NAME")
    set_parser.add_argument("value", metavar="VALUE", help="lists: names separated by commas")
    unset_parser = actions.add_parser(
        "unset", parents=[common], help="remove one of your settings (back to IT's or default)"
    )
    unset_parser.add_argument("name", metavar="NAME")


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 1


def _user_file(args: argparse.Namespace) -> Path:
    if args.config_dir is not None:
        # Only config_dir matters here; the rest of the layout is never touched.
        paths = dataclasses.replace(AgentPaths.under(args.config_dir), config_dir=args.config_dir)
        return paths.user_settings_file
    with warnings.catch_warnings():
        # platformdirs warns when there is no per-session runtime directory, which settings
        # never use; the warning would only confuse someone changing a setting.
        warnings.simplefilter("ignore", UserWarning)
        return AgentPaths.for_user().user_settings_file


def _managed(args: argparse.Namespace) -> ManagedSource:
    if args.policy_file is not None:
        return PolicyFile(args.policy_file)
    return default_managed_source()


def _source_label(source: SettingSource) -> str:
    if source is SettingSource.MANAGED:
        return "managed (locked)"
    return str(source)


def _show(effective: EffectiveSettings, user_file: Path) -> None:
    rows = [(s.name, s.value if s.value else '""', s.source) for s in effective.shown()]
    name_width = max(len(name) for name, _, _ in rows)
    value_width = min(max(len(value) for _, value, _ in rows), 48)
    for name, value, source in rows:
        label = _source_label(SettingSource(source))
        print(f"{name:<{name_width}}  {value:<{value_width}}  {label}")
    print(f"\nmanaged policy: {effective.managed_source}")
    print(f"your settings:  {user_file}")
    for problem in effective.problems:
        print(f"ignored: {problem}")


def _report(effective: EffectiveSettings, name: str) -> None:
    for shown in effective.shown():
        if shown.name == name:
            value = shown.value if shown.value else '""'
            print(f"{name} = {value} ({_source_label(SettingSource(shown.source))})")


def run_command(args: argparse.Namespace) -> int:
    user_file = _user_file(args)
    managed = _managed(args)
    try:
        if args.settings_action == "set":
            _report(save_user_setting(user_file, args.name, args.value, managed), args.name)
        elif args.settings_action == "unset":
            _report(unset_user_setting(user_file, args.name, managed), args.name)
        else:
            _show(load_settings(user_file, managed), user_file)
    except (SettingRefusedError, PolicyError) as exc:
        return _fail(str(exc))
    return 0
