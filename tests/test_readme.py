"""The README's and the reference pages' examples run as written, and their links resolve."""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT, encode, make_image

README = (REPO_ROOT / "README.md").read_text()
PROVENANCE_DOC = (REPO_ROOT / "docs" / "provenance.md").read_text()


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    assert first_block.splitlines()[0].startswith("make run")
    assert first_block.splitlines()[1].startswith("make test")
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()


def test_python_api_example_runs():
    (example,) = re.findall(r"```python\n(.*?)```", PROVENANCE_DOC, re.S)
    namespace = {"image_bytes": encode(make_image(), "JPEG")}
    exec(compile(example, "docs/provenance.md", "exec"), namespace)
    assert namespace["report"].state == "trusted"


def test_documented_json_keys_exist(run_cli):
    import json

    from tests.conftest import C2PA_FIXTURES

    result = run_cli("verify", C2PA_FIXTURES / "adobe-20220124-CA.jpg", "--json")
    report = json.loads(result.stdout)
    table_keys = {
        key
        for row in re.findall(r"^\| (`[a-z0-9_]+`(?:, `[a-z0-9_]+`)*) \|", PROVENANCE_DOC, re.M)
        for key in re.findall(r"`([a-z0-9_]+)`", row)
    }
    missing = set(report) - table_keys
    assert not missing, f"undocumented JSON keys: {missing}"


def test_the_front_page_links_resolve():
    links = re.findall(r"\]\(([^)#]+)\)", README)
    assert "docs/detectors.md" in links
    for link in links:
        if not link.startswith(("http://", "https://")):
            assert (REPO_ROOT / link).is_file(), link


def test_the_five_minute_tour_runs(run_cli, tmp_path):
    import glob
    import shlex

    tour = README[README.index("## Five-minute tour") :]
    block = re.search(r"```console\n(.*?)```", tour, re.S).group(1)
    commands = [
        shlex.split(line.split("#")[0].removeprefix("$ .venv/bin/provaudit "))
        for line in block.splitlines()
        if line.startswith("$ .venv/bin/provaudit ")
    ]
    assert [command[0] for command in commands] == ["detect", "generate", "verify", "bias-report"]
    # The tour runs at the repository root; here in a scratch folder that sees its weights.
    (tmp_path / "generators").symlink_to(REPO_ROOT / "generators")
    (tmp_path / "photo.jpg").write_bytes(encode(make_image((320, 240)), "JPEG"))
    for command in commands:
        expanded = [
            match
            for arg in command
            for match in (sorted(glob.glob(str(tmp_path / arg))) if "*" in arg else [arg])
        ]
        result = run_cli(*expanded, cwd=tmp_path)
        assert result.returncode == 0, (command, result.stderr)
    assert (tmp_path / "report" / "report.html").is_file()
