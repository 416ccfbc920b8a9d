"""The README's examples are tests: a README command that cannot run fails CI.

Blocks are discovered, not counted: every fenced block and every inline command (inline code
starting with `.venv/bin/`) is checked, so sections added to the README are tested too.

- ```python blocks run against the fixture pipeline. `<!-- readme-test: substitute
  es_beto_trf=pipeline dccuchile/bert-base-spanish-wwm-cased=encoder -->` replaces those string
  literals by the fixtures' paths (nothing else changes); `print(...)  # VALUE` lines must print
  VALUE. `<!-- readme-test: no-run REASON -->` only compiles the block and resolves its imports.
- ```bash blocks run in bash in a copy of the project, where `.venv/bin/python` and `python3`
  only record their arguments and nothing else is on PATH (a bare `spacy ...` fails: it is not
  a command after the quick start). Each recorded command is then checked by kind:
  `spacy project run` runs with `--dry` in the copy, with its `--vars` checked against
  project.yml; other spaCy and spacy-beto commands are parsed by their typer commands (options,
  arguments, types), `spacy train` overrides are checked against the config; pip requirements and
  extras against setup.cfg; pytest options against `pytest --help`. A command of an unknown kind
  fails.
- Other blocks need a marker: `synopsis` (each `python -m spacy_beto CMD [--opt ...]` line:
  the command and option names must exist) or `not-code`.
"""

import ast
import configparser
import contextlib
import importlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest
import srsly

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARKER_RE = re.compile(r"^<!--\s*readme-test:\s*(.*?)\s*-->\s*$")
FENCE_RE = re.compile(r"^```(\S*)\s*$")
INLINE_RE = re.compile(r"`(\.venv/bin/[^`\n]+)`")
MARKER_KINDS = ("substitute", "no-run", "synopsis", "not-code")
# What the tests check outside the copy of the project (kept out of it).
COPY_IGNORE = ("assets", "data", "training", "packages", "metrics", "reports", "*.egg-info")


@dataclass
class Block:
    lang: str
    code: str
    line: int
    marker: Optional[str]

    @property
    def id(self) -> str:
        return f"README.md:{self.line}"


def read_blocks(text: str) -> List[Block]:
    """Fenced blocks with the `readme-test` marker that precedes them (blank lines allowed)."""
    blocks: List[Block] = []
    lines = text.splitlines()
    marker: Optional[str] = None
    i = 0
    while i < len(lines):
        line = lines[i]
        found = MARKER_RE.match(line.strip())
        fence = FENCE_RE.match(line)
        if found:
            marker = found.group(1)
        elif fence:
            start = i
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            blocks.append(Block(fence.group(1), "\n".join(body) + "\n", start + 1, marker))
            marker = None
        elif line.strip():
            marker = None
        i += 1
    return blocks


def read_inline_commands(text: str) -> List[Tuple[int, str]]:
    """Inline code outside fenced blocks that is a command: it starts with `.venv/bin/`."""
    found: List[Tuple[int, str]] = []
    in_fence = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence:
            found.extend((number, cmd) for cmd in INLINE_RE.findall(line))
    return found


README_TEXT = README.read_text(encoding="utf8")
BLOCKS = read_blocks(README_TEXT)
PYTHON_BLOCKS = [b for b in BLOCKS if b.lang == "python"]
SHELL_BLOCKS = [b for b in BLOCKS if b.lang in ("bash", "sh", "shell")]
SHELL_BLOCKS += [Block("bash", cmd + "\n", n, None) for n, cmd in read_inline_commands(README_TEXT)]


def test_readme_blocks_are_discovered_and_classified():
    assert PYTHON_BLOCKS and SHELL_BLOCKS, "no README blocks found: the parser is broken"
    for block in BLOCKS:
        kind = (block.marker or "").split(" ")[0]
        if block.marker is not None:
            assert kind in MARKER_KINDS, f"{block.id}: unknown readme-test marker {block.marker!r}"
        if block.lang in ("python", "bash", "sh", "shell"):
            continue
        assert kind in ("synopsis", "not-code"), (
            f"{block.id}: a ```{block.lang} block is not tested; make it ```python or ```bash, "
            f"or mark it <!-- readme-test: synopsis --> or <!-- readme-test: not-code -->"
        )


# ---------------------------------------------------------------- Python blocks


def substitute(block: Block, paths: Dict[str, Path]) -> str:
    """Replace the quoted names of a `substitute a=pipeline b=encoder` marker by fixture paths."""
    code = block.code
    assert block.marker is not None, f"{block.id}: no marker"
    for pair in block.marker.split()[1:]:
        name, _, key = pair.partition("=")
        assert key in paths, f"{block.id}: substitute {name}={key}: use one of {sorted(paths)}"
        literals = [f'"{name}"', f"'{name}'"]
        assert any(lit in code for lit in literals), f"{block.id}: '{name}' is not in the block"
        for lit in literals:
            code = code.replace(lit, repr(str(paths[key])))
    return code


def expected_prints(code: str) -> List[str]:
    """`print(...)  # VALUE` lines: the block must print VALUE there."""
    return [m.group(1) for m in re.finditer(r"^print\(.*\)\s+# (.+)$", code, re.M)]


def resolve_imports(block: Block) -> None:
    for node in ast.walk(ast.parse(block.code)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                importlib.import_module(alias.name)
        elif isinstance(node, ast.ImportFrom):
            assert node.module, f"{block.id}: relative import in a README block"
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{block.id}: {node.module}.{alias.name}?"


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[b.id for b in PYTHON_BLOCKS])
def test_readme_python_block(block, saved_default_pipeline, tiny_model_dir, tmp_path, monkeypatch):
    code = block.code
    kind = (block.marker or "").split(" ")[0]
    if kind == "no-run":
        assert block.marker.split(" ", 1)[1:], f"{block.id}: say why it cannot run"
        compile(code, block.id, "exec")
        resolve_imports(block)
        return
    if kind == "substitute":
        code = substitute(block, {"pipeline": saved_default_pipeline, "encoder": tiny_model_dir})
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, block.id, "exec"), {"__name__": "__readme__"})
    expected = expected_prints(code)
    if expected:
        assert out.getvalue().splitlines() == expected


# ---------------------------------------------------------------- shell commands

RECORDER = """#!{python}
import json, os, sys
with open(os.environ["README_RECORD"], "a", encoding="utf8") as fileh:
    fileh.write(json.dumps({{"exe": {exe!r}, "argv": sys.argv[1:], "cwd": os.getcwd()}}) + "\\n")
"""
NOT_FOUND = """command_not_found_handle() {
  printf '{"exe": "%s", "not_found": true}\\n' "$1" >> "$README_RECORD"
  return 127
}
"""


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory) -> Path:
    """The repository without data or outputs, with `.venv/bin/python` as a recorder."""
    copy = tmp_path_factory.mktemp("readme") / "project"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".*", "__pycache__", *COPY_IGNORE))
    write_recorder(copy / ".venv" / "bin" / "python", ".venv/bin/python")
    write_recorder(copy.parent / "shims" / "python3", "python3")
    return copy


def write_recorder(path: Path, exe: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(RECORDER.format(python=sys.executable, exe=exe), encoding="utf8")
    path.chmod(0o755)


def record_block(code: str, project: Path) -> List[Dict[str, Any]]:
    """Run a shell block in bash with recorders; return the commands it ran, in order."""
    record = project.parent / "record.jsonl"
    record.write_text("", encoding="utf8")
    env = {
        "PATH": str(project.parent / "shims"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "README_RECORD": str(record),
    }
    bash = shutil.which("bash")
    assert bash is not None, "bash is not on PATH"
    proc = subprocess.run(
        [bash, "-e", "-o", "pipefail", "-c", NOT_FOUND + code],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    commands = [json.loads(line) for line in record.read_text(encoding="utf8").splitlines()]
    assert proc.returncode == 0 or any(c.get("not_found") for c in commands), proc.stderr
    return commands


def resolve_cli(command: Any, prog: str, args: Sequence[str]) -> Tuple[Any, Any]:
    """Parse `args` with a typer/click command tree as the CLI would, without invoking it:
    subcommands must exist; options, arguments and their types must parse."""
    ctx = None
    args = list(args)
    while hasattr(command, "resolve_command") and args and not args[0].startswith("-"):
        ctx = command.context_class(command, info_name=prog, parent=ctx)
        prog, command, args = command.resolve_command(ctx, args)
    if hasattr(command, "resolve_command") and not args:
        return command, None  # a group alone prints its help
    try:
        return command, command.make_context(prog, args, parent=ctx)
    except Exception as err:  # --help prints the help and exits with 0
        if getattr(err, "exit_code", None) == 0:
            return command, None
        raise


def click_error(err: BaseException) -> str:
    message = getattr(err, "format_message", None)
    return message() if message else str(err)


@lru_cache(maxsize=None)
def spacy_cli() -> Any:
    import typer.main
    from spacy.cli import app

    return typer.main.get_command(app)


@lru_cache(maxsize=None)
def beto_cli() -> Any:
    import typer.main

    from spacy_beto.cli import app

    return typer.main.get_command(app)


@lru_cache(maxsize=None)
def pytest_help() -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:randomly"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def overrides(args: Sequence[str]) -> Dict[str, Any]:
    from spacy.cli._util import parse_config_overrides

    return parse_config_overrides(list(args))


def check_project_run(args: List[str], project: Path, monkeypatch) -> None:
    """`spacy project run NAME [DIR] [--vars.X V]...`: the project directory must come before
    the --vars, every --vars.X must be a project var, and the command must run with --dry."""
    name = args[0]
    if len(args) > 1 and args[1].startswith("--"):
        raise AssertionError(
            f"write `spacy project run {name} . {' '.join(args[1:])}`: weasel with the installed "
            f"typer takes the first --vars for the project directory (Invalid value for "
            f"'project_dir')"
        )
    variables = srsly.read_yaml(project / "project.yml").get("vars", {})
    for key in overrides(args[2:]):
        assert key.startswith("vars."), f"{key}: only --vars.NAME overrides are documented"
        assert key[5:] in variables, f"--{key}: not a var of project.yml ({sorted(variables)})"
    monkeypatch.chdir(project)
    command, ctx = resolve_cli(spacy_cli(), "spacy", ["project", "run", *args, "--dry"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            command.invoke(ctx)
        except SystemExit as err:
            raise AssertionError(f"dry run failed ({err.code}):\n{out.getvalue()}") from err
    assert "Running command:" in out.getvalue(), out.getvalue()


def check_spacy(args: List[str], project: Path, monkeypatch) -> None:
    if args[:2] == ["project", "run"]:
        check_project_run(args[2:], project, monkeypatch)
        return
    monkeypatch.chdir(project)
    command, ctx = resolve_cli(spacy_cli(), "spacy", args)
    if ctx is not None and args[0] in ("train", "debug", "pretrain") and ctx.args:
        from thinc.api import Config

        config = Config().from_disk(ctx.params["config_path"], interpolate=False)
        for key in overrides(ctx.args):
            section, *path = key.split(".")
            node = config.get(section)
            assert node is not None, f"--{key}: no [{section}] in {ctx.params['config_path']}"
            for part in path[:-1]:
                node = node.get(part)
                assert node is not None, f"--{key}: not in {ctx.params['config_path']}"
            assert path[-1] in node, f"--{key}: not in {ctx.params['config_path']}"


def check_pip(args: List[str]) -> None:
    from packaging.requirements import Requirement

    assert args[0] == "install", args
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf8")
    extras = set(cfg["options.extras_require"])
    rest = args[1:]
    while rest:
        arg = rest.pop(0)
        if arg == "-e":
            target = rest.pop(0)
            match = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", target)
            assert match, f"-e {target}: expected the repository root '.'"
            missing = set((match.group(1) or "").split(",")) - extras - {""}
            assert not missing, f"-e {target}: extras {missing} not in setup.cfg ({extras})"
        elif arg.startswith("-"):
            raise AssertionError(f"pip option {arg} is not checked")
        else:
            req = Requirement(arg)
            if req.name == "torch":
                assert str(req.specifier) == "==2.13.0", "torch must stay pinned (CPU build)"


def check_command(cmd: Dict[str, Any], project: Path, monkeypatch) -> None:
    exe, argv = cmd["exe"], cmd.get("argv", [])
    if cmd.get("not_found"):
        raise AssertionError(
            f"`{exe}` is not a command after the quick start (the virtual environment is not "
            f"activated): write `.venv/bin/python -m {exe} ...`"
        )
    if exe == "python3":
        assert argv == ["-m", "venv", ".venv"], argv
        return
    assert exe == ".venv/bin/python", exe
    if argv and argv[0].endswith(".py"):
        script = ROOT / argv[0]
        assert script.is_file(), f"{argv[0]}: no such script"
        compile(script.read_text(encoding="utf8"), str(script), "exec")
        return
    assert argv[:1] == ["-m"], f"{argv}: expected .venv/bin/python -m MODULE"
    module, args = argv[1], argv[2:]
    if module == "spacy":
        check_spacy(args, project, monkeypatch)
    elif module == "spacy_beto":
        monkeypatch.chdir(project)
        resolve_cli(beto_cli(), "python -m spacy_beto", args)
    elif module == "pip":
        check_pip(args)
    elif module == "pytest":
        for arg in args:
            assert arg.startswith("--") and arg in pytest_help(), f"pytest {arg}: unknown"
    else:
        raise AssertionError(f"no README check for `python -m {module}`: add one to this test")


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=[b.id for b in SHELL_BLOCKS])
def test_readme_shell_commands(block, project_copy, monkeypatch):
    commands = record_block(block.code, project_copy)
    assert commands, f"{block.id}: no command ran"
    for cmd in commands:
        try:
            check_command(cmd, project_copy, monkeypatch)
        except Exception as err:
            shown = shlex.join([cmd["exe"], *cmd.get("argv", [])])
            raise AssertionError(f"{block.id}: `{shown}`: {click_error(err)}") from err


SYNOPSIS_BLOCKS = [b for b in BLOCKS if (b.marker or "").startswith("synopsis")]


@pytest.mark.parametrize("block", SYNOPSIS_BLOCKS, ids=[b.id for b in SYNOPSIS_BLOCKS])
def test_readme_synopsis(block):
    """Each `python -m spacy_beto CMD ... [--opt ...]` line names a command and its options."""
    lines = [ln for ln in block.code.splitlines() if ln.strip()]
    assert lines
    for line in lines:
        words = line.split("#")[0].split()
        assert words[:3] == ["python", "-m", "spacy_beto"], f"{block.id}: {line}"
        command = beto_cli()
        path = words[3:]
        while hasattr(command, "resolve_command"):
            ctx = command.context_class(command, info_name="python -m spacy_beto")
            _, command, path = command.resolve_command(ctx, path)
        known = {opt for param in command.params for opt in param.opts + param.secondary_opts}
        for option in re.findall(r"(?<![\w-])--[a-z][\w-]*", line):
            assert option in known, f"{block.id}: `{line}`: {option} is not an option"


# ---------------------------------------------------------------- the checker itself


@pytest.mark.parametrize(
    "code,error",
    [
        ("spacy project run all-beto . --vars.gpu_id 0\n", "`spacy` is not a command"),
        (
            ".venv/bin/python -m spacy project run all-beto --vars.gpu_id 0\n",
            "write `spacy project run all-beto . --vars.gpu_id 0`",
        ),
        (".venv/bin/python -m spacy project run all-beto . --vars.gpu 0\n", "not a var"),
        (".venv/bin/python -m spacy project run nope .\n", "nope"),
        (".venv/bin/python -m spacy_beto annotate m in.jsonl --batchsize 2\n", "--batchsize"),
        (".venv/bin/python -m spacy train configs/mini.cfg --paths.nope x\n", "--paths.nope"),
    ],
    ids=[
        "bare-spacy",
        "vars-before-dir",
        "unknown-var",
        "unknown-workflow",
        "unknown-option",
        "unknown-override",
    ],
)
def test_readme_checker_rejects_broken_commands(code, error, project_copy, monkeypatch):
    """The README command checks fail for the breakages of issue 13 (items 1 and 8)."""
    block = Block("bash", code, 0, None)
    with pytest.raises(AssertionError, match=re.escape(error)):
        test_readme_shell_commands(block, project_copy, monkeypatch)


def test_readme_project_runs_put_the_directory_first():
    """Item 1, the exact strings: every `spacy project run` in the README has `.` before
    any --vars (the form that works with typer 0.29 / weasel 1.0)."""
    runs = re.findall(r"spacy project run ([^\s`]+)((?: [^\s`]+)*)", README_TEXT)
    with_vars = [(name, rest) for name, rest in runs if "--vars." in rest]
    assert with_vars
    for name, rest in with_vars:
        assert rest.split()[0] == ".", f"spacy project run {name}{rest}"
