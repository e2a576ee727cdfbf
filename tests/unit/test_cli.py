"""The ``mcp-gatekeeper`` command line as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_gatekeeper import __version__
from mcp_gatekeeper.cli import EXIT_BAD_CONFIG, main

GOOD = """\
proxy:
  hosts:
    - host: a.example.com
    - host: localhost:3000
      path: /tools
"""

BAD = """\
proxy:
  hosts:
    - host: A.example.com
      hots: typo
  issuer: http://auth.example.com
tokens:
  accessTokenTTL: 1x
"""

SCRIPT = Path(sys.executable).parent / "mcp-gatekeeper"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``MCP_GATEKEEPER_*`` variable from the outside leaks into a test."""
    for name in list(os.environ):
        if name.startswith("MCP_GATEKEEPER"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    """Write a configuration file and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def clean_env() -> dict[str, str]:
    """The process environment without ``MCP_GATEKEEPER_*`` variables, for subprocesses."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MCP_GATEKEEPER")}


def test_check_config_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A valid file exits 0 and prints OK with the number and names of the hosts."""
    code = main(["check-config", "--config", str(write(tmp_path, GOOD))])
    out, err = capsys.readouterr()
    assert code == 0
    assert out == "configuration OK: 2 MCP host(s): a.example.com, localhost:3000\n"
    assert err == ""


def test_check_config_bad_file_lists_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad file exits 2 and prints every problem with its field path on stderr."""
    code = main(["check-config", "--config", str(write(tmp_path, BAD))])
    out, err = capsys.readouterr()
    assert code == EXIT_BAD_CONFIG == 2
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == "mcp-gatekeeper: the configuration has 4 problem(s):"
    problems = sorted(line.strip() for line in lines[1:])
    assert len(problems) == 4
    assert all(line.startswith("- ") for line in problems)
    assert [line.split(":", 1)[0] for line in problems] == [
        "- proxy.hosts[0].host",
        "- proxy.hosts[0].hots",
        "- proxy.issuer",
        "- tokens.accessTokenTTL",
    ]
    assert "must be lower-case" in err
    assert "unknown setting" in err
    assert "Traceback" not in err


def test_check_config_missing_config(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --config or MCP_GATEKEEPER_CONFIG the command says how to name the file."""
    code = main(["check-config"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert "no configuration file" in err
    assert "--config" in err
    assert "MCP_GATEKEEPER_CONFIG" in err
    assert "Traceback" not in err


def test_check_config_nonexistent_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A path that does not exist is reported, not raised."""
    missing = tmp_path / "nope.yaml"
    code = main(["check-config", "--config", str(missing)])
    _, err = capsys.readouterr()
    assert code == 2
    assert f"cannot read {missing}" in err


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"proxy: [\n", "is not valid YAML at line"),
        (b"- a\n", "must hold a mapping"),
        (b"proxy:\n  hosts:\n    - host: \xff\n", "not UTF-8"),
        (b"proxy:\n  hosts: [{host: a.example.com}]\ntokens: {clockSkew: .inf}\n", "clockSkew"),
    ],
    ids=["yaml-syntax", "top-level-list", "not-utf8", "infinite-duration"],
)
def test_check_config_unusable_files_are_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, fragment: str
) -> None:
    """Broken files of every kind exit 2 with a message and no traceback."""
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    code = main(["check-config", "--config", str(path)])
    _, err = capsys.readouterr()
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err


def test_check_config_path_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """MCP_GATEKEEPER_CONFIG names the file when --config is absent."""
    monkeypatch.setenv("MCP_GATEKEEPER_CONFIG", str(write(tmp_path, GOOD)))
    code = main(["check-config"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "configuration OK" in out


def test_check_config_option_wins_over_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--config is used even when MCP_GATEKEEPER_CONFIG points elsewhere."""
    monkeypatch.setenv("MCP_GATEKEEPER_CONFIG", str(write(tmp_path, BAD, "bad.yaml")))
    code = main(["check-config", "--config", str(write(tmp_path, GOOD))])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "configuration OK" in out


def test_check_config_applies_environment_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Overrides from the environment are validated too, and reported by variable name."""
    monkeypatch.setenv("MCP_GATEKEEPER_PROXY__HOSTS__5__PATH", "/x")
    monkeypatch.setenv("MCP_GATEKEEPER_PROXY__HOSTS__0__PATH", "/bad/")
    code = main(["check-config", "--config", str(write(tmp_path, GOOD))])
    _, err = capsys.readouterr()
    assert code == 2
    assert "MCP_GATEKEEPER_PROXY__HOSTS__5__PATH: hosts has no item '5'" in err
    assert "proxy.hosts[0].path: must not end with '/'" in err


def test_check_config_never_prints_the_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Neither success nor failure output contains the client secret."""
    provider = "provider:\n  name: oidc\n  clientID: x\n  clientSecret: very-secret-value\n"
    main(["check-config", "--config", str(write(tmp_path, GOOD + provider))])
    main(["check-config", "--config", str(write(tmp_path, BAD + provider, "bad.yaml"))])
    out, err = capsys.readouterr()
    assert "very-secret-value" not in out + err


def test_serve_with_bad_config_exits_before_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``serve`` reports a bad configuration exactly like check-config, and does not start."""
    code = main(["serve", "--config", str(write(tmp_path, BAD)), "--port", "0"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "the configuration has 4 problem(s)" in err


def _serve(*argv: str) -> subprocess.CompletedProcess[str]:
    """``mcp-gatekeeper serve ...`` as a process; one that starts serving is killed by the
    timeout, which fails the test."""
    return subprocess.run(
        [str(SCRIPT), "serve", *argv],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=30,
        check=False,
    )


def test_serve_command_line_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    """``serve --host 0.0.0.0`` with the demo login is refused with the very problems the same
    setting in the file gets, exit status 2, and nothing starts listening on the port."""
    from tests.integration.harness import free_port
    from tests.integration.harness.ports import port_accepts

    port = free_port()
    demo = write(tmp_path, GOOD)
    everywhere = "0.0.0.0"  # noqa: S104 - refusing it is the point
    refused = _serve("--config", str(demo), "--host", everywhere, "--port", str(port))
    in_file = write(tmp_path, GOOD + f"server:\n  host: {everywhere}\n", "in-file.yaml")
    checked = subprocess.run(
        [str(SCRIPT), "check-config", "--config", str(in_file)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=30,
        check=False,
    )
    assert refused.returncode == checked.returncode == EXIT_BAD_CONFIG
    assert "server.host" in refused.stderr and "loopback" in refused.stderr
    assert refused.stderr == checked.stderr
    assert not port_accepts(port)


def test_serve_port_override_is_range_checked(tmp_path: Path) -> None:
    """``serve --port 70000`` is the same problem as ``server.port: 70000`` in the file."""
    refused = _serve("--config", str(write(tmp_path, GOOD)), "--port", "70000")
    assert refused.returncode == EXIT_BAD_CONFIG
    assert "- server.port: Input should be less than 65536" in refused.stderr


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints the program name and version and exits 0."""
    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.strip() == f"mcp-gatekeeper {__version__}"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "required"),
        (["frobnicate"], "invalid choice"),
        (["check-config", "--port", "1"], "unrecognized arguments"),
        (["serve", "--port", "eighty"], "invalid int value"),
    ],
    ids=["no-command", "unknown-command", "serve-option-on-check", "bad-port"],
)
def test_usage_errors(argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Wrong usage exits 2 with argparse's usage message."""
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "usage: mcp-gatekeeper" in err
    assert fragment in err


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """--help names both commands."""
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "serve" in out
    assert "check-config" in out


def test_console_script_is_installed(tmp_path: Path) -> None:
    """The installed ``mcp-gatekeeper`` entry point runs check-config."""
    assert SCRIPT.is_file(), f"{SCRIPT} is not installed"
    good = subprocess.run(
        [str(SCRIPT), "check-config", "--config", str(write(tmp_path, GOOD))],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    assert "configuration OK: 2 MCP host(s): a.example.com, localhost:3000" in good.stdout


def test_console_script_reports_bad_config(tmp_path: Path) -> None:
    """The entry point's exit status is 2 for a bad file, with problems and no traceback."""
    bad = subprocess.run(
        [str(SCRIPT), "check-config", "--config", str(write(tmp_path, BAD))],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "proxy.hosts[0].hots" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_python_dash_m() -> None:
    """``python -m mcp_gatekeeper`` is the same command line."""
    result = subprocess.run(
        [sys.executable, "-m", "mcp_gatekeeper", "--version"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"mcp-gatekeeper {__version__}"


@pytest.mark.parametrize("url", ["not-a-url", "ftp://x/mcp", "https://", "mcp.example.com/mcp"])
def test_probe_refuses_what_is_not_an_mcp_url(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", url]) == EXIT_BAD_CONFIG
    assert "is not an MCP URL (https://host[:port]/path)" in capsys.readouterr().err


def test_probe_of_a_closed_port_fails_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listens: exit 1 and the connection error, not a traceback."""
    from tests.integration.harness import free_port

    assert main(["probe", "--timeout", "2", f"http://127.0.0.1:{free_port()}/mcp"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  challenge: no answer from" in out and "1 failed" in out
