"""A run of one command builds only that command's parser (and imports only its module).

Anchor: the full parser (``npvae --help``, a mistyped command) still lists every command, and a
fresh ``python -m npvae.cli preprocess --help`` process has not imported the train command's
plotting (matplotlib) nor the other command modules.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import npvae
from npvae.cli import COMMANDS, build_parser, main

PROBE = """
import json, runpy, sys
sys.argv = ["npvae", *sys.argv[1:]]
try:
    runpy.run_module("npvae.cli", run_name="__main__")
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules
                                                   if m.startswith(("npvae.commands.", "matplotlib")))}))
"""


def _fresh_run(*argv):
    env = dict(os.environ, PYTHONPATH=str(Path(npvae.__file__).parents[1]))      # this same npvae
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_one_command_imports_only_its_own_module():
    run = _fresh_run("preprocess", "--help")
    assert run["code"] == 0
    assert [m for m in run["modules"] if m.startswith("npvae.commands.")] == ["npvae.commands.arguments",
                                                                              "npvae.commands.preprocess"]
    assert not [m for m in run["modules"] if m.startswith("matplotlib")]


def test_the_full_parser_lists_every_command(capsys):
    names = set(build_parser()._subparsers._group_actions[0].choices)
    assert names == {name.replace("_", "-") for name in COMMANDS}
    with pytest.raises(SystemExit) as exit:
        main(["preprocesss", "x"])                                  # mistyped: the full list of choices
    assert exit.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


CONSOLE_PROBE = """
import gc, json, sys
from npvae import cli
sys.argv = ["npvae", *sys.argv[1:]]
before = gc.get_freeze_count()
seen = {}
build_parser = cli.build_parser


def spy(command=None):
    seen["collecting while importing"] = gc.isenabled()
    parser = build_parser(command)
    parse_args = parser.parse_args

    def parse(argv):
        seen.update({"collecting at the command": gc.isenabled(), "frozen at the command": gc.get_freeze_count()})
        return parse_args(argv)
    parser.parse_args = parse
    return parser


cli.build_parser = spy
code = cli.main() if sys.argv[1] == "--main" and sys.argv.pop(1) else cli.console()
print(json.dumps({"code": code, "before": before, "frozen": gc.get_freeze_count(), **seen}))
"""


@pytest.mark.parametrize("entry", ["console", "--main"])
def test_the_script_freezes_what_is_left_for_a_quick_exit_and_main_alone_does_not(tmp_path, entry):
    """``npvae`` (console) returns main's exit code with every object left frozen for the exit's
    garbage collection, the collector held while the command imports and the imports frozen
    before the command runs; main called as a function leaves the collector alone."""
    argv = ([] if entry == "console" else [entry]) + ["encode", str(tmp_path / "none.fits"), "--model",
                                                       str(tmp_path / "none"), "--out", str(tmp_path / "x.fits")]
    env = dict(os.environ, PYTHONPATH=str(Path(npvae.__file__).parents[1]))
    done = subprocess.run([sys.executable, "-c", CONSOLE_PROBE, *argv], capture_output=True, text=True, env=env)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["code"] == 1 and "npvae encode: error:" in done.stderr           # the one-line error, code 1
    assert seen["before"] == 0
    assert (seen["frozen"] > 1000) is (entry == "console")
    assert seen["collecting while importing"] is (entry != "console")     # held for the command's imports
    assert seen["collecting at the command"]                                 # and on again for its work,
    assert (seen["frozen at the command"] > 1000) is (entry == "console")   # the imported objects frozen
