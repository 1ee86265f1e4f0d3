"""The README and docs say what the code does: commands, exit codes and links stay true."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from caffebatch.cli import COMMANDS, main
from caffebatch.cli.score import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def test_the_readme_starts_with_the_two_commands():
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def shown_commands(text: str) -> set[str]:
    """The subcommands of `caffebatch ...` in a page's code: fenced blocks and inline code."""
    blocks = re.findall(r"```.*?```", text, flags=re.DOTALL)
    code = [re.sub(r"#.*", "", block) for block in blocks]  # shell comments are prose
    code += re.findall(r"`[^`\n]+`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    return {name for snippet in code for name in re.findall(r"\bcaffebatch (\w[\w-]*)", snippet)}


def test_every_command_the_docs_show_exists():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        missing = shown_commands(page.read_text()) - set(COMMANDS)
        assert not missing, f"{page.name} shows commands that do not exist: {missing}"
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_the_exit_code_tables_match_the_code():
    table = dict(re.findall(r"^\| ([0-3]) \| (.+?) \|$", README, flags=re.MULTILINE))
    assert set(table) == {str(EXIT_OK), str(EXIT_PARTIAL), str(EXIT_FAILED), str(EXIT_USAGE)}
    assert "every record" in table[str(EXIT_OK)]
    assert "some records failed" in table[str(EXIT_PARTIAL)]
    assert "failed" in table[str(EXIT_FAILED)]
    assert "usage" in table[str(EXIT_USAGE)]
    help_text = CliRunner().invoke(main, ["score", "--help"]).output
    for code in (EXIT_OK, EXIT_PARTIAL, EXIT_FAILED, EXIT_USAGE):
        assert re.search(rf"^\s+{code}\s+\w", help_text, flags=re.MULTILINE), f"--help lacks {code}"


def test_every_local_link_in_the_docs_resolves():
    for page in [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
