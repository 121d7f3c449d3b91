"""The README's examples run as written."""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT, encode, make_image

README = (REPO_ROOT / "README.md").read_text()


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1)
    assert first_block.splitlines()[0].startswith("make run")
    assert first_block.splitlines()[1].startswith("make test")
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()


def test_python_api_example_runs():
    (example,) = re.findall(r"```python\n(.*?)```", README, re.S)
    namespace = {"image_bytes": encode(make_image(), "JPEG")}
    exec(compile(example, "README.md", "exec"), namespace)
    assert namespace["report"].state == "trusted"


def test_documented_json_keys_exist(run_cli):
    import json

    from tests.conftest import C2PA_FIXTURES

    result = run_cli("verify", C2PA_FIXTURES / "adobe-20220124-CA.jpg", "--json")
    report = json.loads(result.stdout)
    table_keys = {
        key
        for row in re.findall(r"^\| (`[a-z_]+`(?:, `[a-z_]+`)*) \|", README, re.M)
        for key in re.findall(r"`([a-z_]+)`", row)
    }
    missing = set(report) - table_keys
    assert not missing, f"undocumented JSON keys: {missing}"
